"""One transaction per API call, the user's Session sharing it, and the engine's schema."""

from __future__ import annotations

import gc
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import orm

import tasquencer as tq
from tasquencer import Builder
from tasquencer.runtime.clock import FakeClock
from tasquencer.store import database
from tasquencer.store.tables import metadata, task_log, tasks, work_items
from tests.helpers import dump

# --- helpers ---------------------------------------------------------------------------------


class Boom(Exception):
    """Raised on purpose by an activity."""


def self_starting_task(item: str = "item", **activities: Any) -> Any:
    """A task that creates one work item when enabled; the work item starts itself."""

    def on_initialized(ctx: Any) -> None:
        ctx.work_item.start()

    work_item = Builder.work_item(item).with_activities(on_initialized=on_initialized)

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return Builder.task(work_item).with_activities(on_enabled=on_enabled, **activities)


def register(app: tq.App, workflow: Any) -> tq.WorkflowApi:
    return app.register(tq.versions(workflow.name).version("v1", workflow)).api("v1")


def only_item(api: tq.WorkflowApi, workflow_id: str, task: str) -> Any:
    (item,) = api.list_work_items(workflow_id, task_name=task)
    return item


def sequence(name: str, *tasks: tuple[str, Any]) -> Any:
    """start -> tasks... -> end, each task given as (name, builder); None is a plain dummy."""
    wf = Builder.workflow(name).start_condition("start").end_condition("end")
    for task_name, builder in tasks:
        if builder is None or isinstance(builder, tq.builder.DummyTaskBuilder):
            wf = wf.dummy_task(task_name, builder)
        else:
            wf = wf.task(task_name, builder)
    names = [n for n, _ in tasks]
    wf = wf.connect_condition("start", lambda to: to.task(names[0]))
    for a, b in itertools.pairwise(names):
        wf = wf.connect_task(a, lambda to, b=b: to.task(b))
    return wf.connect_task(names[-1], lambda to: to.condition("end"))


class Base(orm.DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "user_notes"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    text: orm.Mapped[str]


class Attachment(Base):
    __tablename__ = "user_attachments"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    work_item_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey(work_items.c.id))


def notes(app: tq.App) -> list[str]:
    with orm.Session(app.engine) as session:
        return list(session.scalars(sa.select(Note.text).order_by(Note.id)))


# --- one transaction per call ----------------------------------------------------------------


def test_exception_at_the_end_of_a_dummy_chain_rolls_back_the_whole_call(app):
    reached: list[str] = []
    fail = {"on": True}

    @app.mutation
    def later(ctx: Any) -> None:
        """A job target."""

    def a_completed(ctx: Any) -> None:
        ctx.scheduler.run_after(60, later)

    def d1_enabled(ctx: Any) -> None:
        reached.append("d1")
        ctx.scheduler.run_after(120, later)

    def t3_enabled(ctx: Any) -> None:
        reached.append("T3")
        ctx.register_scheduled(ctx.scheduler.run_after(180, later))
        ctx.work_item.initialize()
        if fail["on"]:
            raise Boom("T3 cannot be enabled")

    wf = sequence(
        "chain",
        ("A", self_starting_task(on_completed=a_completed)),
        ("d1", Builder.dummy_task().with_activities(on_enabled=d1_enabled)),
        ("d2", None),
        ("T3", Builder.task(Builder.work_item("x")).with_activities(on_enabled=t3_enabled)),
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    a_item = only_item(api, wid, "A")
    before = dump(app)

    # A completes (scheduling a job), d1 and d2 run (d1 schedules a job), T3's on_enabled
    # schedules and registers a job, creates a work item, then raises: none of it remains.
    with pytest.raises(Boom):
        api.internal_complete_work_item(a_item.id)

    assert reached == ["d1", "T3"]
    assert dump(app) == before
    assert api.get_workflow_task_states(wid) == {
        "A": "started",
        "d1": "disabled",
        "d2": "disabled",
        "T3": "disabled",
    }
    assert api.get_work_item_state(a_item.id) == "started"

    # The same call without the failure commits all of it.
    fail["on"] = False
    api.internal_complete_work_item(a_item.id)
    after = dump(app)
    assert len(after["tasquencer_jobs"]) == 3
    with app.engine.connect() as connection:
        tied = connection.execute(
            sa.select(tasks.c.name, tasks.c.job_ids).where(tasks.c.job_ids.is_not(None))
        ).all()
    assert [(name, len(job_ids)) for name, job_ids in tied] == [("T3", 1)]
    assert api.get_workflow_task_states(wid)["T3"] == "enabled"
    assert [i.task_name for i in api.list_work_items(wid)] == ["A", "T3"]


def test_exception_while_initializing_leaves_no_instance(app):
    def explode(ctx: Any) -> None:
        raise Boom("no")

    wf = sequence(
        "chain",
        ("d1", None),
        ("d2", None),
        ("T3", Builder.task(Builder.work_item("x")).with_activities(on_enabled=explode)),
    )
    api = register(app, wf)
    before = dump(app)
    with pytest.raises(Boom):
        api.internal_initialize_root_workflow()
    assert dump(app) == before
    assert api.list_workflows() == []


def test_exception_in_a_child_workflow_activity_rolls_back_the_whole_call(app):
    def on_started(ctx: Any) -> None:
        raise Boom("child work item cannot start")

    child_item = Builder.work_item("leaf").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(), on_started=on_started
    )
    child = sequence(
        "child",
        (
            "t",
            Builder.task(child_item).with_activities(on_enabled=lambda c: c.work_item.initialize()),
        ),
    )

    def create_child(ctx: Any) -> None:
        ctx.workflow.initialize()

    wf = (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .task("A", self_starting_task())
        .composite_task("C", Builder.composite_task(child).with_activities(on_enabled=create_child))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    before = dump(app)
    with pytest.raises(Boom):
        api.internal_complete_work_item(only_item(api, wid, "A").id)
    assert dump(app) == before
    assert api.list_child_workflows(wid, "C") == []


# --- ctx.db: the user's Session in the same transaction --------------------------------------


def test_user_rows_commit_and_roll_back_with_the_engine(app):
    Base.metadata.create_all(app.engine)
    fail_in_b = {"on": True}

    def a_completed(ctx: Any) -> None:
        ctx.db.add(Note(text=f"A done in {ctx.parent.workflow.id}"))

    def a_enabled(ctx: Any) -> None:
        assert isinstance(ctx.db, orm.Session)
        ctx.db.add(Note(text="A enabled"))
        ctx.work_item.initialize()

    def b_enabled(ctx: Any) -> None:
        ctx.db.add(Note(text="B enabled"))
        if fail_in_b["on"]:
            raise Boom("B")

    item = Builder.work_item("item").with_activities(on_initialized=lambda c: c.work_item.start())
    wf = sequence(
        "notes",
        ("A", Builder.task(item).with_activities(on_enabled=a_enabled, on_completed=a_completed)),
        ("B", Builder.task(Builder.work_item("b")).with_activities(on_enabled=b_enabled)),
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert notes(app) == ["A enabled"]

    before = dump(app)
    # A's on_completed writes a note, then B's on_enabled (same call) raises: both go.
    with pytest.raises(Boom):
        api.internal_complete_work_item(only_item(api, wid, "A").id)
    assert notes(app) == ["A enabled"]
    assert dump(app) == before

    fail_in_b["on"] = False
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    assert notes(app) == ["A enabled", f"A done in {wid}", "B enabled"]
    assert api.get_workflow_task_states(wid) == {"A": "completed", "B": "enabled"}


def test_user_queries_see_the_engine_changes_of_the_same_call(app):
    Base.metadata.create_all(app.engine)
    seen: dict[str, Any] = {}

    def wf_initialized(ctx: Any) -> None:
        seen["workflow"] = ctx.db.execute(
            sa.text("SELECT state FROM tasquencer_workflows WHERE id = :id"),
            {"id": ctx.workflow.id},
        ).scalar_one()

    def on_enabled(ctx: Any) -> None:
        ctx.db.add(Note(text="from on_enabled"))
        item_id = ctx.work_item.initialize()
        seen["work_item"] = tuple(
            ctx.db.execute(
                sa.text(
                    "SELECT id, state, task_name FROM tasquencer_work_items "
                    "WHERE workflow_id = :wid"
                ),
                {"wid": ctx.parent.workflow.id},
            ).one()
        )
        seen["item_id"] = item_id
        seen["markings"] = dict(
            ctx.db.execute(
                sa.text("SELECT name, marking FROM tasquencer_conditions WHERE workflow_id = :w"),
                {"w": ctx.parent.workflow.id},
            ).all()
        )
        seen["notes"] = list(ctx.db.scalars(sa.select(Note.text)))

    wf = sequence(
        "queries",
        ("A", Builder.task(Builder.work_item("item")).with_activities(on_enabled=on_enabled)),
    ).with_activities(on_initialized=wf_initialized)
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    assert seen["workflow"] == "initialized"
    assert seen["work_item"] == (seen["item_id"], "initialized", "A")
    # A is enabled but not started: the start token is still there.
    assert seen["markings"] == {"start": 1, "end": 0}
    assert seen["notes"] == ["from on_enabled"]
    assert api.get_work_item_state(seen["item_id"]) == "initialized"
    assert wid


def test_user_table_with_a_foreign_key_to_work_items(app):
    Base.metadata.create_all(app.engine)
    bad = {"on": False}

    def on_initialized(ctx: Any) -> None:
        work_item_id = "no-such-work-item" if bad["on"] else ctx.work_item.id
        ctx.db.add(Attachment(work_item_id=work_item_id))
        ctx.db.flush()

    item = Builder.work_item("item").with_activities(on_initialized=on_initialized)
    wf = sequence(
        "fk",
        ("A", Builder.task(item).with_activities(on_enabled=lambda c: c.work_item.initialize())),
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    item_id = only_item(api, wid, "A").id
    with orm.Session(app.engine) as session:
        assert list(session.scalars(sa.select(Attachment.work_item_id))) == [item_id]

    # The database enforces the key: a dangling reference fails and the whole call rolls back.
    bad["on"] = True
    before = dump(app)
    with pytest.raises(sa.exc.IntegrityError):
        api.internal_initialize_root_workflow()
    assert dump(app) == before
    with orm.Session(app.engine) as session:
        assert list(session.scalars(sa.select(Attachment.work_item_id))) == [item_id]


# --- the database ----------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode(app):
    with app.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        connection.rollback()


def test_a_second_app_on_the_same_database_sees_the_same_instances(app):
    wf = sequence("shared", ("A", self_starting_task()), ("B", self_starting_task()))
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    other = tq.App(app.url)
    try:
        other_api = register(other, wf)
        assert other_api.get_workflow_snapshot(wid) == api.get_workflow_snapshot(wid)
        assert [w.id for w in other_api.list_workflows()] == [wid]
        other_api.internal_complete_work_item(only_item(other_api, wid, "A").id)
        assert api.get_workflow_task_states(wid) == {"A": "completed", "B": "started"}
        api.internal_complete_work_item(only_item(api, wid, "B").id)
        assert other_api.get_workflow_state(wid) == "completed"
    finally:
        other.close()


def test_engine_tables_are_created_on_first_use(database_url):
    first = tq.App(database_url)
    try:
        names = set(sa.inspect(first.engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= names
        assert all(n.startswith("tasquencer_") for n in names)
        assert database.current_revision(first.engine) == database.SCHEMA_HEAD
        api = register(first, sequence("wf", ("A", self_starting_task())))
        wid = api.internal_initialize_root_workflow()
    finally:
        first.close()
    # Opening it again is a no-op upgrade that keeps the data.
    again = tq.App(database_url)
    try:
        api = register(again, sequence("wf", ("A", self_starting_task())))
        assert [w.id for w in api.list_workflows()] == [wid]
    finally:
        again.close()


# A root workflow "upg" whose task "approve" is started, as the 0001 engine left it: its work
# item (started), the task's generation and the workflow each have one job tied to them
# (registrations in tasquencer_scheduled); one more job is untied, one has finished.
START = datetime(2030, 1, 1, tzinfo=UTC)
WF, ITEM = "01M8XEJXM04MR9D6K8Q1XAHE86", "01M8XEJXM3JTS6SWG6SE3WND6J"
ESCALATE, CHECK, REMIND = (
    "01M8XEJXM12V9FK5DNZ6R7VJAZ",
    "01M8XEJXM4EABDZYS42P2EJ5YB",
    "01M8XEJXM4VSS04SSKTA0TA1N9",
)
UNTIED, FINISHED = "01M8XEJXM5AAAAAAAAAAAAAAAA", "01M8XEJXM5BBBBBBBBBBBBBBBB"


def _job(job_id: str, run_after: float, state: str = "pending") -> dict[str, Any]:
    return {
        "id": job_id,
        "function": "upg.noop",
        "kind": "mutation",
        "args": {},
        "state": state,
        "run_at": START + timedelta(seconds=run_after),
        "attempts": 0 if state == "pending" else 1,
        "max_attempts": 5,
        "created_at": START,
        "finished_at": None if state == "pending" else START,
    }


ROWS_0001: dict[str, list[dict[str, Any]]] = {
    "tasquencer_workflows": [
        {
            "id": WF,
            "name": "upg",
            "version_name": "v1",
            "path": ["upg"],
            "root_workflow_id": WF,
            "realized_path": [],
            "state": "started",
            "execution_mode": "normal",
            "has_jobs": True,
            "created_at": START,
            "updated_at": START,
        }
    ],
    "tasquencer_tasks": [
        {
            "workflow_id": WF,
            "name": "approve",
            "state": "started",
            "generation": 1,
            "execution_mode": "normal",
            "jobs_generation": 1,
        }
    ],
    "tasquencer_conditions": [
        {"workflow_id": WF, "name": "start", "marking": 0},
        {"workflow_id": WF, "name": "end", "marking": 0},
    ],
    "tasquencer_work_items": [
        {
            "id": ITEM,
            "name": "approval",
            "workflow_id": WF,
            "root_workflow_id": WF,
            "task_name": "approve",
            "task_generation": 1,
            "state": "started",
            "has_jobs": True,
            "created_at": START,
            "updated_at": START,
        }
    ],
    "tasquencer_task_stats": [
        {
            "workflow_id": WF,
            "task_name": "approve",
            "generation": 1,
            "shard": 2,
            "total": 1,
            "initialized": 0,
            "started": 1,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
        }
    ],
    "tasquencer_task_log": [
        {"workflow_id": WF, "task_name": "approve", "generation": g, "state": s, "at": START}
        for g, s in ((0, "disabled"), (1, "enabled"), (1, "started"))
    ],
    "tasquencer_jobs": [
        _job(ESCALATE, 7200),
        _job(CHECK, 60),
        _job(REMIND, 3600),
        _job(UNTIED, 30),
        _job(FINISHED, 0, "success"),
    ],
    "tasquencer_scheduled": [
        {"element_key": f"workflow/{WF}", "job_id": ESCALATE, "created_at": START},
        {"element_key": f"work_item/{ITEM}", "job_id": CHECK, "created_at": START},
        {"element_key": f"task/{WF}/approve/1", "job_id": REMIND, "created_at": START},
    ],
}


def upgrade_workflow(app: tq.App) -> tq.WorkflowApi:
    """The definition of the workflow in ROWS_0001, with the jobs it ties."""

    @app.mutation(name="upg.noop")
    def noop(ctx: Any) -> None:
        """What the tied jobs run."""

    def initialize_item(ctx: Any, payload: Any) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(60, noop))

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(3600, noop))

    def submit(ctx: Any, payload: Any) -> None:
        ctx.workflow.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(7200, noop))

    item = (
        Builder.work_item("approval")
        .with_actions(Builder.work_item_actions().initialize(None, initialize_item))
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start())
    )
    wf = (
        Builder.workflow("upg")
        .with_actions(Builder.workflow_actions().initialize(None, submit))
        .start_condition("start")
        .end_condition("end")
        .task("approve", Builder.task(item).with_activities(on_enabled=on_enabled))
        .connect_condition("start", lambda to: to.task("approve"))
        .connect_task("approve", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("upg").version("v1", wf)).api("v1")


def test_a_0001_database_with_a_workflow_in_flight_upgrades_and_the_workflow_finishes(
    database_url,
):
    engine = database.create_engine(database_url)
    try:
        database.upgrade_schema(engine, "0001")
        with engine.begin() as connection:
            tables = sa.MetaData()
            tables.reflect(connection, only=list(ROWS_0001))
            for name, rows in ROWS_0001.items():
                connection.execute(tables.tables[name].insert(), rows)
        database.upgrade_schema(engine)  # what `tasquencer db upgrade` does
        assert database.current_revision(engine) == database.SCHEMA_HEAD
    finally:
        engine.dispose()

    app = tq.App(database_url, auto_migrate=False, clock=FakeClock(START))
    try:
        api = upgrade_workflow(app)
        assert api.get_workflow_task_states(WF) == {"approve": "started"}
        # Due jobs are still found: the untied one and the work item's check.
        app.clock.advance(61)
        assert app.run_due_jobs() == 2
        api.internal_complete_work_item(ITEM)
        assert api.get_workflow_state(WF) == "completed"
        states = {job.id: job.state for job in app.list_jobs()}
        assert states == {
            UNTIED: "success",
            CHECK: "success",
            FINISHED: "success",
            REMIND: "canceled",  # tied to the task's generation, as registered
            ESCALATE: "canceled",  # tied to the workflow
        }
        app.clock.advance(3 * 3600)
        assert app.run_due_jobs() == 0
        # A new instance works as well, its jobs tied on the upgraded schema.
        second = api.internal_initialize_root_workflow()
        api.internal_cancel_root_workflow(second)
        new_jobs = [job.state for job in app.list_jobs() if job.id not in states]
        assert new_jobs == ["canceled"] * 3
    finally:
        app.close()


def test_auto_migrate_false_leaves_an_empty_database_untouched(database_url):
    app = tq.App(database_url, auto_migrate=False)
    try:
        with pytest.raises(tq.ConfigurationError, match="tasquencer db upgrade"):
            register(app, sequence("wf", ("A", self_starting_task())))
        assert sa.inspect(app.engine).get_table_names() == []
        assert database.current_revision(app.engine) is None
    finally:
        app.close()


def test_the_migration_creates_exactly_the_metadata_schema(database_url):
    engine = database.create_engine(database_url)
    try:
        database.upgrade_schema(engine)
        assert database.current_revision(engine) == database.SCHEMA_HEAD

        def include(
            obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
        ) -> bool:
            return not (type_ == "table" and name == database.VERSION_TABLE)

        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
            connection.rollback()
    finally:
        engine.dispose()


def test_a_finished_call_leaves_no_reference_cycles_behind(app):
    """The rows a call loaded are freed when it returns, not at the next garbage collection."""
    api = register(app, sequence("wf", ("A", self_starting_task()), ("B", self_starting_task())))

    def run_one_instance() -> None:
        workflow_id = api.internal_initialize_root_workflow()
        api.internal_complete_work_item(only_item(api, workflow_id, "A").id)
        api.internal_complete_work_item(only_item(api, workflow_id, "B").id)
        assert api.get_workflow_state(workflow_id) == "completed"

    run_one_instance()  # warm: every statement compiled and cached once
    gc.collect()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        run_one_instance()
        gc.collect()
        left = sorted({type(o).__qualname__ for o in gc.garbage})
        assert left == [], f"objects freed only by the garbage collector: {left}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_write_refused_by_the_database_at_commit_rolls_back_the_whole_call(app):
    """The engine's batched writes (one round trip on PostgreSQL) fail as a whole, and the
    call with them; the next call on the same database works."""
    sabotage = {"on": True}

    def b_enabled(ctx: Any) -> None:
        if sabotage["on"]:
            # Takes the primary key of the log row the engine writes when B starts, below.
            ctx.db.execute(
                sa.insert(task_log).values(
                    workflow_id=ctx.parent.workflow.id,
                    task_name="B",
                    generation=1,
                    state="started",
                    at=ctx.now(),
                )
            )
        ctx.work_item.initialize()

    work_item = Builder.work_item("b").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start()
    )
    b = Builder.task(work_item).with_activities(on_enabled=b_enabled)
    api = register(app, sequence("wf", ("A", self_starting_task()), ("B", b)))
    workflow_id = api.internal_initialize_root_workflow()
    a_item = only_item(api, workflow_id, "A")
    before = dump(app)

    with pytest.raises(Exception, match="tasquencer_task_log"):
        api.internal_complete_work_item(a_item.id)

    assert dump(app) == before
    sabotage["on"] = False
    api.internal_complete_work_item(a_item.id)
    assert api.get_workflow_task_states(workflow_id) == {"A": "completed", "B": "started"}
