"""Misuse, bad input and bad configuration: a clear typed error naming the argument, and the
database unchanged. One test per defect found by trying the engine as an adversarial user."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pydantic
import pytest

import tasquencer as tq
from tasquencer import Builder, testing
from tasquencer.runtime.worker import Worker
from tasquencer.store.tables import jobs
from tests.helpers import auto_task, dump


def one_task(
    name: str = "wf", item: tq.builder.WorkItemBuilder | None = None
) -> tq.builder.WorkflowBuilder:
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("a", auto_task(item))
        .connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("end"))
    )


# --- Retry and workers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"attempts": 0}, ValueError),
        ({"attempts": 1001}, ValueError),
        ({"attempts": "3"}, TypeError),
        ({"attempts": True}, TypeError),
        ({"attempts": 2.5}, TypeError),
        ({"initial_delay": float("inf")}, ValueError),
        ({"initial_delay": float("nan")}, ValueError),
        ({"initial_delay": -1}, ValueError),
        ({"max_delay": 10**400}, ValueError),
        ({"max_delay": float("inf")}, ValueError),
        ({"initial_delay": 10.0, "max_delay": 5.0}, ValueError),
        ({"initial_delay": "1"}, TypeError),
    ],
)
def test_retry_refuses_values_it_cannot_keep(options, error):
    with pytest.raises(error, match="Retry"):
        tq.Retry(**options)


def test_a_job_that_cannot_be_put_back_does_not_stop_the_recovery_of_the_others(app):
    """A retry policy that breaks settling (forced past the checks here) makes that one job
    fail with the reason; the other expired job is recovered as usual, on every pass."""
    broken = tq.Retry(attempts=5)
    object.__setattr__(broken, "initial_delay", float("inf"))
    object.__setattr__(broken, "max_delay", float("inf"))

    @app.action(name="hardening.broken", retry=broken)
    def broken_action(ctx: tq.ActionContext) -> None:
        pass

    @app.action(name="hardening.fine", retry=tq.Retry(attempts=3, initial_delay=0))
    def fine_action(ctx: tq.ActionContext) -> None:
        pass

    @app.mutation
    def schedule_both(ctx: tq.MutationContext) -> list[str]:
        return [ctx.scheduler.run_after(0, broken_action), ctx.scheduler.run_after(0, fine_action)]

    broken_id, fine_id = app.run_mutation(schedule_both)
    with app.engine.begin() as connection:  # both claimed by a worker that then died
        connection.execute(
            jobs.update().values(
                state="in_progress",
                attempts=1,
                lease_owner="dead",
                lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC),
            )
        )
    worker = Worker(app.runtime, worker_id="w")
    assert worker.recover_expired() == 2
    assert worker.recover_expired() == 0
    broken_job, fine_job = app.get_job(broken_id), app.get_job(fine_id)
    assert broken_job is not None and fine_job is not None
    assert broken_job.state == "failed"
    assert "worker lost" in (broken_job.error or "")
    assert fine_job.state == "pending"


def test_start_worker_takes_the_options_of_the_worker_command(app):
    with app.start_worker(concurrency=3, poll_interval=0.05, lease_seconds=5) as workers:
        assert len(workers.workers) == 3
        assert workers.is_alive()
    assert not workers.is_alive()
    for bad in (0, -1, True, "2"):
        with pytest.raises((ValueError, TypeError), match="concurrency"):
            app.start_worker(concurrency=bad)
    with pytest.raises(ValueError, match="poll_interval"):
        app.start_worker(poll_interval=0)


# --- scheduling -------------------------------------------------------------------------------


def test_run_after_refuses_booleans_and_values_out_of_range(app):
    @app.mutation
    def noop(ctx: tq.MutationContext) -> None:
        pass

    @app.mutation
    def schedule(ctx: tq.MutationContext, delay: object) -> str:
        return ctx.scheduler.run_after(delay, noop)  # type: ignore[arg-type]

    before = dump(app)
    for bad, error in ((True, TypeError), ("1", TypeError), (-1, ValueError), (1e300, ValueError)):
        with pytest.raises(error, match="delay"):
            app.run_mutation(schedule, delay=bad)
    assert dump(app) == before


@pytest.mark.parametrize("year", [1, 999, 1000, 9999])
def test_any_valid_run_at_round_trips_and_jobs_stay_readable(app, year):
    @app.mutation
    def noop(ctx: tq.MutationContext) -> None:
        pass

    @app.mutation
    def schedule(ctx: tq.MutationContext) -> str:
        return ctx.scheduler.run_at(datetime(year, 6, 1, 12, 30, 5, 7, tzinfo=UTC), noop)

    job_id = app.run_mutation(schedule)
    job = app.get_job(job_id)
    assert job is not None
    assert job.run_at == datetime(year, 6, 1, 12, 30, 5, 7, tzinfo=UTC)
    assert [j.id for j in app.list_jobs()] == [job_id]
    assert app.run_due_jobs() == (1 if year < 2030 else 0)  # the fake clock starts in 2030


def test_run_at_refuses_a_time_outside_the_representable_years(app):
    @app.mutation
    def noop(ctx: tq.MutationContext) -> None:
        pass

    @app.mutation
    def schedule(ctx: tq.MutationContext) -> str:
        east = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # year 0 in UTC
        return ctx.scheduler.run_at(east, noop)

    with pytest.raises(ValueError, match="outside the years"):
        app.run_mutation(schedule)
    assert app.list_jobs() == []


@pytest.mark.parametrize(
    "bad",
    [{"text": "a\x00b"}, {"text": "\ud800"}, {"\ud800": 1}, {"nested": [["\x00"]]}],
    ids=["nul", "surrogate", "surrogate-key", "nested-nul"],
)
def test_job_arguments_the_database_cannot_store_are_refused(app, bad):
    @app.mutation
    def noop(ctx: tq.MutationContext, **kwargs: object) -> None:
        pass

    @app.mutation
    def schedule(ctx: tq.MutationContext) -> str:
        return ctx.scheduler.run_after(0, noop, **bad)

    with pytest.raises(tq.SerializationError, match="cannot be stored"):
        app.run_mutation(schedule)
    assert app.list_jobs() == []


def test_deeply_nested_job_arguments_are_a_serialization_error(app):
    @app.mutation
    def noop(ctx: tq.MutationContext, deep: object) -> None:
        pass

    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]

    @app.mutation
    def schedule(ctx: tq.MutationContext) -> str:
        return ctx.scheduler.run_after(0, noop, deep=deep)

    with pytest.raises(tq.SerializationError, match="nested too deeply"):
        app.run_mutation(schedule)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda app: app.get_job([1]), TypeError),
        (lambda app: app.get_job(None), TypeError),
        (lambda app: app.list_jobs(limit="x"), TypeError),
        (lambda app: app.list_jobs(limit=0), ValueError),
        (lambda app: app.list_jobs(state="done"), ValueError),
        (lambda app: app.list_jobs(function=3), TypeError),
    ],
)
def test_job_reads_refuse_bad_arguments(app, call, error):
    with pytest.raises(error):
        call(app)


def test_job_reads_of_ids_that_cannot_exist_find_nothing_without_asking_the_database(app):
    for impossible in ("x" * 1_000_000, "a\x00b", "\ud800", "é"):
        assert app.get_job(impossible) is None


# --- ids, filters and targets -----------------------------------------------------------------


def test_ids_and_filters_of_the_wrong_type_are_refused_before_any_sql(app):
    api = app.register(one_task()).api()
    workflow_id = api.internal_initialize_root_workflow()
    before = dump(app)
    for bad in ([1], {"a": 1}, ("t",), 10**40, 1, 1.5, None):
        with pytest.raises(TypeError, match="workflow_id"):
            api.get_workflow_state(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="work_item_id"):
            api.internal_complete_work_item(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task_name"):
        api.list_work_items(workflow_id, task_name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state"):
        api.list_work_items(workflow_id, state="done")
    with pytest.raises(ValueError, match="state"):
        api.list_workflows(state="running")
    assert dump(app) == before


def test_ids_that_cannot_exist_are_not_found_and_the_message_stays_short(app):
    api = app.register(one_task()).api()
    huge = "x" * 1_000_000
    for impossible in (huge, "a\x00b", "\ud800"):
        with pytest.raises(tq.WorkflowNotFoundError) as found:
            api.get_workflow_snapshot(impossible)
        assert len(str(found.value)) < 300
        with pytest.raises(tq.WorkItemNotFoundError) as item:
            api.internal_start_work_item(impossible)
        assert len(str(item.value)) < 300


@pytest.mark.parametrize(
    "target",
    [
        lambda wid: tq.Target(None, wid, "a"),  # type: ignore[arg-type]
        lambda wid: tq.Target(["wf", {"a": 1}, "item"], wid, "a"),  # type: ignore[list-item]
        lambda wid: {
            "path": ["wf", "a", {"x": 1}],
            "parent_workflow_id": wid,
            "parent_task_name": "a",
        },
        lambda wid: {"path": "wf/a/item", "parent_workflow_id": wid, "parent_task_name": "a"},
        lambda wid: {
            "path": ["wf", "a", "item"],
            "parent_workflow_id": [wid],
            "parent_task_name": "a",
        },
        lambda wid: {"path": ["wf", "a", "item"], "parent_workflow_id": wid, "parent_task_name": 7},
        lambda wid: ["wf", "a", "item"],
    ],
)
def test_bad_targets_are_refused_clearly(app, target):
    api = app.register(one_task()).api()
    workflow_id = api.internal_initialize_root_workflow()
    before = dump(app)
    with pytest.raises(tq.ElementNotFoundInPathError) as refused:
        api.internal_initialize_work_item(target(workflow_id))
    assert "expects a workflow at" not in str(refused.value)
    assert dump(app) == before


def test_a_target_dataclass_with_a_list_path_works_like_a_tuple(app):
    api = app.register(one_task()).api()
    workflow_id = api.internal_initialize_root_workflow()
    target = tq.Target(["wf", "a", "item"], workflow_id, "a")  # type: ignore[arg-type]
    assert target.path == ("wf", "a", "item")
    item_id = api.internal_initialize_work_item(target)
    assert api.get_work_item_state(item_id) == "started"  # the item starts itself


# --- payloads ---------------------------------------------------------------------------------


class Note(pydantic.BaseModel):
    text: str


def test_a_deeply_nested_invalid_payload_is_a_payload_error_not_a_recursion_error(app):
    def complete(ctx: tq.WorkItemActionContext, note: Note) -> None:
        ctx.work_item.complete()

    item = (
        Builder.work_item("item")
        .with_actions(Builder.work_item_actions().complete(Note, complete))
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start())
    )
    api = app.register(one_task(item=item)).api()
    workflow_id = api.internal_initialize_root_workflow()
    (work_item,) = api.list_work_items(workflow_id)
    deep: object = "leaf"
    for _ in range(50_000):
        deep = {"text": deep}
    before = dump(app)
    with pytest.raises(tq.PayloadValidationError) as refused:
        api.complete_work_item(work_item.id, deep)
    assert len(str(refused.value)) < 2000
    huge = {"text": ["x" * 10_000_000]}
    with pytest.raises(tq.PayloadValidationError) as too_big:
        api.complete_work_item(work_item.id, huge)
    assert len(str(too_big.value)) < 2000
    assert dump(app) == before


# --- definitions ------------------------------------------------------------------------------


def test_a_condition_named_like_an_implicit_one_is_a_duplicate(app):
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .condition("A__to__B")
        .end_condition("end")
        .task("A", auto_task())
        .task("B", auto_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_condition("A__to__B", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    with pytest.raises(tq.DuplicateElementError, match="A__to__B"):
        app.register(workflow)
    assert not app.is_registered("wf")


@pytest.mark.parametrize(
    ("name", "error"),
    [("a\x00b", ValueError), ("\ud800", ValueError), ("x" * 201, ValueError), ("", TypeError)],
)
def test_names_the_database_cannot_store_are_refused_when_built(name, error):
    with pytest.raises(error):
        Builder.workflow(name)
    with pytest.raises(error):
        Builder.work_item(name)
    with pytest.raises(error):
        tq.versions(name)
    with pytest.raises(error):
        Builder.workflow("wf").task(name, auto_task())
    with pytest.raises(error):
        tq.versions("wf").version(name, one_task())


def test_an_implicit_condition_too_long_to_store_is_refused_at_register(app):
    a, b = "a" * 150, "b" * 150
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task(a, auto_task())
        .task(b, auto_task())
        .connect_condition("start", lambda to: to.task(a))
        .connect_task(a, lambda to: to.task(b))
        .connect_task(b, lambda to: to.condition("end"))
    )
    with pytest.raises(tq.InvalidFlowError, match="longer than 200"):
        app.register(workflow)


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, 5, "not a url", "mysql://x@y/z"])
def test_an_app_on_a_bad_url_is_a_configuration_error(url):
    with pytest.raises(tq.ConfigurationError):
        tq.App(url)  # type: ignore[arg-type]


def test_an_app_in_a_missing_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(tq.ConfigurationError, match="does not exist"):
        tq.App(f"sqlite:///{tmp_path / 'missing' / 'app.db'}")


def test_an_unmigrated_database_says_to_upgrade_it(database_url):
    app = tq.App(database_url, auto_migrate=False)
    try:
        with pytest.raises(tq.ConfigurationError, match="tasquencer db upgrade"):
            app.register(one_task())
        with pytest.raises(tq.ConfigurationError, match="tasquencer db upgrade"):
            app.list_jobs()
        assert not app.is_registered("wf")
    finally:
        app.close()


def test_a_closed_app_refuses_calls(tmp_path):
    app = testing.create_app(tmp_path / "app.db")
    api = app.register(one_task()).api()
    workflow_id = api.internal_initialize_root_workflow()
    app.close()
    with pytest.raises(tq.ConfigurationError, match="closed"):
        api.get_workflow_state(workflow_id)
    with pytest.raises(tq.ConfigurationError, match="closed"):
        api.internal_initialize_root_workflow()
    with pytest.raises(tq.ConfigurationError, match="closed"):
        app.list_jobs()


def _open_new_file(path: str, ready: object, results: object) -> None:
    ready.wait()  # type: ignore[attr-defined]
    try:
        app = tq.App(f"sqlite:///{path}")
        app.list_jobs()
        app.close()
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as error:  # reported to the test, which shows it
        results.put(repr(error)[:300])  # type: ignore[attr-defined]


def open_new_files_at_once(tmp_path: Path, rounds: int, processes: int = 8) -> list[str]:
    """Each round, `processes` processes open the same brand-new SQLite file at once (without
    the retry of `PRAGMA journal_mode=WAL`, about 1 start in 150 failed "database is locked")."""
    context = multiprocessing.get_context("fork")
    outcomes = []
    for round_number in range(rounds):
        ready, results = context.Event(), context.Queue()
        path = str(tmp_path / f"new-{round_number}.db")
        started = [
            context.Process(target=_open_new_file, args=(path, ready, results))
            for _ in range(processes)
        ]
        for process in started:
            process.start()
        ready.set()
        for process in started:
            process.join(120)
        outcomes += [results.get(timeout=10) for _ in started]
    return outcomes


@pytest.mark.sqlite_only
def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path, backend):
    outcomes = open_new_files_at_once(tmp_path, rounds=6)
    assert [o for o in outcomes if o != "ok"] == []


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_processes_opening_a_new_sqlite_file_at_once_all_succeed_full_size(tmp_path, backend):
    outcomes = open_new_files_at_once(tmp_path, rounds=60)
    assert [o for o in outcomes if o != "ok"] == []
