"""PostgreSQL itself: the engine's column types, `tasquencer db upgrade`, the isolation calls run
in, a mutation that loses a serialization conflict being run again, and LISTEN/NOTIFY waking a
worker of another app (docs/decisions.md, runtime/runner.py, runtime/wakeup.py).

A retried mutation runs its body again from the start: Python-side effects (the attempt counts
below) are repeated, by design, and only what the body writes to the database counts once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.runtime.worker import Worker
from tasquencer.store import database
from tasquencer.store.sql import Statement
from tasquencer.store.tables import metadata
from tests.helpers import auto_task, wait_for

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
TASQUENCER = Path(sys.executable).with_name("tasquencer")


def version_rows(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            table = sa.table(database.VERSION_TABLE, sa.column("version_num"))
            return list(connection.scalars(sa.select(table.c.version_num)))
    finally:
        engine.dispose()


def engine_tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {n for n in sa.inspect(engine).get_table_names() if n.startswith("tasquencer_")}
    finally:
        engine.dispose()


# --- the schema ------------------------------------------------------------------------------


def test_the_engine_tables_get_postgresql_types(app):
    expected: dict[tuple[str, str], str] = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.JSON):
                expected[(table.name, column.name)] = "jsonb"
            elif isinstance(column.type, sa.DateTime):
                expected[(table.name, column.name)] = "timestamp with time zone"
    assert "jsonb" in expected.values() and "timestamp with time zone" in expected.values()

    with app.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name LIKE 'tasquencer%'"
            )
        ).all()
        connection.rollback()
    actual = {(table, column): data_type for table, column, data_type in rows}
    assert {key: actual.get(key) for key in expected} == expected
    # and nothing of the engine's is plain `json` or a timestamp without a time zone
    assert not {t for t in actual.values() if t in ("json", "timestamp without time zone")}
    assert {table for table, _ in actual} >= {t.name for t in metadata.sorted_tables}


def test_a_mutation_runs_serializable_and_a_query_repeatable_read_and_read_only(app):
    def settings(ctx: Any) -> tuple[str, str]:
        isolation = ctx.db.execute(sa.text("SHOW transaction_isolation")).scalar_one()
        read_only = ctx.db.execute(sa.text("SHOW transaction_read_only")).scalar_one()
        return isolation, read_only

    app.mutation(settings, name="pg.mutation_settings")
    app.query(settings, name="pg.query_settings")
    assert app.run_mutation("pg.mutation_settings") == ("serializable", "off")
    assert app.run_query("pg.query_settings") == ("repeatable read", "on")


SELECT_SEQSCAN = Statement(sa.text("SHOW enable_seqscan"))


def seqscan(connection: Any) -> str:
    return connection.execute(sa.text("SHOW enable_seqscan")).scalar_one()  # type: ignore[no-any-return]


def test_only_serializable_calls_plan_without_sequential_scans(app):
    """Under SERIALIZABLE a sequential scan predicate-locks the whole table: the BEGIN of a
    mutation's transaction turns them off for that transaction, and nothing else does."""
    app.mutation(lambda ctx: seqscan(ctx.db), name="pg.mutation_seqscan")
    app.query(lambda ctx: seqscan(ctx.db), name="pg.query_seqscan")
    assert app.run_mutation("pg.mutation_seqscan") == "off"  # its first statement: the user's
    assert app.run_query("pg.query_seqscan") == "on"
    # A sequential scan still planned (no index to use) is priced high: no JIT for it.
    jit = app.mutation(lambda ctx: ctx.db.execute(sa.text("SHOW jit")).scalar_one(), name="pg.jit")
    assert app.run_mutation(jit) == "off"
    with app.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
        assert seqscan(tx.connection) == "on"
    with app.transaction() as tx:
        assert tx.db.one(SELECT_SEQSCAN, {}) == ("off",)  # the first statement: the engine's
    with app.transaction():
        pass  # ran no statement: its BEGIN must not be left to the connection's next use
    with app.engine.connect() as connection:
        assert seqscan(connection) == "on"
        assert connection.connection.driver_connection.autocommit is False


@pytest.mark.parametrize("first", ["engine", "user"])
def test_every_statement_of_a_call_belongs_to_its_transaction(app, first):
    """The runner begins a mutation's transaction itself: whichever way a statement goes out
    (the engine's cursor, pipelined or batched, the user's Session, Core, a savepoint), it is
    part of the call and is undone with it."""
    notes = sa.Table(
        f"atomic_notes_{first}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    notes.metadata.create_all(app.engine)
    insert = Statement(sa.insert(notes).values(text=sa.bindparam("text")))

    def body(tx: Any) -> None:
        if first == "user":
            tx.session.execute(notes.insert().values(text="session first"))
        tx.db.run(insert, {"text": "engine"})
        with tx.db.writes():
            tx.db.run(insert, {"text": "pipelined"})
        tx.db.run_many(insert, [{"text": "batch 1"}, {"text": "batch 2"}])
        tx.session.execute(notes.insert().values(text="session"))
        tx.connection.execute(notes.insert().values(text="core"))
        savepoint = tx.connection.begin_nested()
        tx.connection.execute(notes.insert().values(text="savepoint"))
        savepoint.commit()
        assert seqscan(tx.connection) == "off"
        count = tx.connection.execute(sa.select(sa.func.count()).select_from(notes)).scalar()
        assert count == (8 if first == "user" else 7)
        raise RuntimeError("the call fails")

    with pytest.raises(RuntimeError, match="the call fails"):
        app.runtime.runner.run(body)
    with app.engine.connect() as connection:
        assert connection.execute(sa.select(notes.c.text)).all() == []


def test_a_call_on_small_analyzed_tables_takes_no_table_wide_predicate_lock(app):
    """The planner would scan the tiny tables of a young database sequentially once they are
    analyzed, and so lock them whole: any other call writing to them would conflict."""
    api = app.register(
        tq.versions("pg_small").version(
            "v1",
            Builder.workflow("pg_small")
            .start_condition("start")
            .end_condition("end")
            .task("a", auto_task())
            .connect_condition("start", lambda to: to.task("a"))
            .connect_task("a", lambda to: to.condition("end")),
        )
    ).api("v1")
    workflow_ids = [api.internal_initialize_root_workflow() for _ in range(3)]
    with app.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")

    @app.mutation(name="pg.complete_and_list_locks")
    def complete_and_list_locks(ctx: Any, work_item_id: str) -> list[str]:
        api.internal_complete_work_item(work_item_id, ctx=ctx)
        return list(
            ctx.db.execute(
                sa.text(
                    "SELECT relation::regclass::text FROM pg_locks WHERE mode = 'SIReadLock'"
                    " AND locktype = 'relation' AND virtualtransaction = (SELECT"
                    " virtualtransaction FROM pg_locks WHERE pid = pg_backend_pid()"
                    " AND locktype = 'virtualxid')"
                )
            ).scalars()
        )

    (item,) = api.list_work_items(workflow_ids[0])
    assert app.run_mutation(complete_and_list_locks, work_item_id=item.id) == []
    assert api.get_workflow_state(workflow_ids[0]) == "completed"


# --- tasquencer db upgrade -------------------------------------------------------------------


def db_upgrade(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TASQUENCER), "db", "upgrade", "--url", url],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_upgrade_creates_the_schema_in_an_empty_database_then_does_nothing(database_url):
    assert engine_tables(database_url) == set()

    first = db_upgrade(database_url)
    assert first.returncode == 0, first.stderr
    assert f"schema upgraded from empty to {database.SCHEMA_HEAD}" in first.stdout
    assert version_rows(database_url) == [database.SCHEMA_HEAD]
    assert engine_tables(database_url) == {t.name for t in metadata.sorted_tables} | {
        database.VERSION_TABLE
    }

    again = db_upgrade(database_url)
    assert again.returncode == 0, again.stderr
    assert f"schema already at revision {database.SCHEMA_HEAD}" in again.stdout
    assert version_rows(database_url) == [database.SCHEMA_HEAD]

    # an app started without migrating uses the upgraded schema as it is
    app = tq.App(database_url, auto_migrate=False)
    try:

        @app.mutation(name="pg.schedule")
        def schedule(ctx: Any) -> str:
            return ctx.scheduler.run_after(3600, schedule)

        job_id = app.run_mutation(schedule)
        assert app.get_job(job_id).state == "pending"
    finally:
        app.close()


def test_db_upgrade_of_an_app_s_up_to_date_database_changes_nothing(app):
    app.run_mutation(app.mutation(lambda ctx: None, name="pg.noop"))
    before = engine_tables(app.url)
    result = db_upgrade(app.url)
    assert result.returncode == 0, result.stderr
    assert f"schema already at revision {database.SCHEMA_HEAD}" in result.stdout
    assert version_rows(app.url) == [database.SCHEMA_HEAD]
    assert engine_tables(app.url) == before


# --- serialization conflicts -----------------------------------------------------------------


class Counters:
    """A user table with one row per name, incremented read-then-write by mutations whose first
    attempts meet at a barrier: both read before either writes, so one of them must lose."""

    def __init__(self, app: tq.App, parties: int = 2) -> None:
        self.app = app
        self.table = sa.Table(
            "counters",
            sa.MetaData(),
            sa.Column("name", sa.String(20), primary_key=True),
            sa.Column("value", sa.Integer, nullable=False),
        )
        self.table.metadata.create_all(app.engine)
        with app.engine.begin() as connection:
            connection.execute(self.table.insert().values(name="shared", value=0))
        self.barrier = threading.Barrier(parties, timeout=10)
        self.attempts: Counter[str] = Counter()  # runs of each caller's body, retries included
        self.seen: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        table = self.table

        @app.mutation(name="pg.increment")
        def increment(ctx: Any, who: str) -> int:
            with self.lock:
                self.attempts[who] += 1
                first = self.attempts[who] == 1
            value = ctx.db.execute(
                sa.select(table.c.value).where(table.c.name == "shared")
            ).scalar_one()
            with self.lock:
                self.seen.setdefault(who, []).append(value)
            if first:
                self.barrier.wait()  # both have read the row
            ctx.db.execute(table.update().where(table.c.name == "shared").values(value=value + 1))
            return value + 1

        self.increment = increment

    def value(self) -> int:
        with self.app.engine.connect() as connection:
            return connection.execute(
                sa.select(self.table.c.value).where(self.table.c.name == "shared")
            ).scalar_one()


def test_a_mutation_that_loses_a_serialization_conflict_is_run_again(app):
    counters = Counters(app)
    results: dict[str, Any] = {}

    def call(who: str) -> None:
        try:
            results[who] = app.run_mutation(counters.increment, who=who)
        except BaseException as error:  # reported by the assertion below
            results[who] = error

    threads = [threading.Thread(target=call, args=(who,)) for who in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert all(isinstance(result, int) for result in results.values()), results
    assert sorted(results.values()) == [1, 2]  # both calls succeeded
    assert counters.value() == 2  # and both increments count
    # One call lost the conflict and ran again, this time reading the winner's write: its
    # Python side effects (here the attempt count) happened twice, as runner.py documents.
    assert sorted(counters.attempts.values()) == [1, 2]
    loser = max(counters.attempts, key=counters.attempts.__getitem__)
    assert counters.seen[loser] == [0, 1]
    assert results[loser] == 2


def test_a_scheduled_mutation_that_loses_a_conflict_is_run_again_and_applied_once(app):
    counters = Counters(app)

    @app.mutation
    def plan(ctx: Any) -> list[str]:
        return [ctx.scheduler.run_after(0, counters.increment, who=who) for who in ("a", "b")]

    job_ids = app.run_mutation(plan)
    # batch=1: each worker holds one job, so the two run side by side
    with (
        app.start_worker(poll_interval=0.05, batch=1),
        app.start_worker(poll_interval=0.05, batch=1),
    ):
        assert wait_for(
            lambda: all(app.get_job(j).state == "success" for j in job_ids), timeout=20
        ), [app.get_job(j) for j in job_ids]
    assert [app.get_job(j).attempts for j in job_ids] == [1, 1]  # retried inside the call
    assert counters.value() == 2
    assert sorted(counters.attempts.values()) == [1, 2]


# --- LISTEN/NOTIFY ---------------------------------------------------------------------------


def test_a_notify_wakes_an_idle_worker_of_another_app_at_once(app):
    """The worker belongs to a second app on the same database, so the in-process signal of
    the app that schedules cannot wake it: only the NOTIFY sent at commit can, well before its
    30-second poll."""
    notes = sa.Table(
        "notes",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    notes.metadata.create_all(app.engine)

    def add(ctx: Any, text: str) -> None:
        ctx.db.execute(notes.insert().values(text=text))

    app.mutation(add, name="pg.notes.add")
    other = tq.App(app.url, clock=app.clock)
    try:
        other.mutation(add, name="pg.notes.add")

        @app.mutation
        def schedule(ctx: Any) -> str:
            return ctx.scheduler.run_after(0, "pg.notes.add", text="woken")

        with other.start_worker(poll_interval=30):
            time.sleep(0.3)  # let it go idle on its long poll
            started = time.monotonic()
            job_id = app.run_mutation(schedule)
            assert wait_for(lambda: app.get_job(job_id).state == "success", timeout=5)
            elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"took {elapsed:.3f}s"
        with app.engine.connect() as connection:
            assert list(connection.scalars(sa.select(notes.c.text))) == ["woken"]
    finally:
        other.close()


# --- leases ----------------------------------------------------------------------------------


def test_lease_renewal_skips_a_job_row_another_transaction_holds_instead_of_waiting(app):
    """A worker settles and claims jobs on one connection while another renews its leases: a
    renewal that waited for a row while holding the rows it renewed before could deadlock with
    a settle of several jobs, so it skips rows locked right now (they are being claimed or
    settled) and renews the rest."""
    from tasquencer.store import jobs as st
    from tasquencer.store.tables import jobs

    @app.mutation
    def plan(ctx: Any) -> list[str]:
        return [ctx.scheduler.run_after(0, "pg.lease.noop") for _ in range(2)]

    app.mutation(lambda ctx: None, name="pg.lease.noop")
    busy, free = app.run_mutation(plan)
    old = app.clock.now()
    with app.engine.begin() as connection:
        connection.execute(
            jobs.update()
            .where(jobs.c.id.in_([busy, free]))
            .values(state="in_progress", lease_owner="w1", lease_expires_at=old)
        )
    renewed_until = old + dt.timedelta(seconds=30)
    with app.engine.connect() as holder:
        holder.execute(sa.select(jobs.c.id).where(jobs.c.id == busy).with_for_update())
        with app.transaction() as tx:
            tx.connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            renewed = sum(
                tx.db.run(st.RENEW_LEASE, {"id": job_id, "owner": "w1", "expires": renewed_until})
                for job_id in (busy, free)
            )
        holder.rollback()
    assert renewed == 1
    with app.engine.connect() as connection:
        leases = dict(connection.execute(sa.select(jobs.c.id, jobs.c.lease_expires_at)).all())
    assert leases == {busy: old, free: renewed_until}


# --- lost connections ------------------------------------------------------------------------


def backends(connection: sa.Connection) -> set[int]:
    """The server processes connected to this database, other than `connection`'s own."""
    return set(
        connection.scalars(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    )


def terminate(connection: sa.Connection, pids: set[int]) -> None:
    for pid in pids:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@contextmanager
def admin_connection(app: tq.App) -> Iterator[sa.Connection]:
    """A connection of its own, outside the app's pool (which the tests below cut)."""
    # Autocommit: pg_stat_activity is read once per transaction.
    engine = sa.create_engine(app.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


class Notes:
    """A user table the mutations below append to; `attempts` counts runs of their bodies."""

    def __init__(self, app: tq.App) -> None:
        self.table = sa.Table(
            "lost_notes",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("text", sa.Text, nullable=False),
        )
        self.table.metadata.create_all(app.engine)
        self.app = app
        self.attempts: Counter[str] = Counter()
        table = self.table

        @app.mutation(name="pg.lost.add")
        def add(ctx: Any, text: str) -> int:
            self.attempts[text] += 1
            ctx.db.execute(table.insert().values(text=text))
            return ctx.db.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

        self.add = add

    def texts(self) -> list[str]:
        with self.app.engine.connect() as connection:
            return list(connection.scalars(sa.select(self.table.c.text).order_by("id")))


def test_a_call_whose_pooled_connection_died_runs_again_on_a_fresh_one(app):
    """A server restart or failover kills pooled connections: the next call finds out at its
    first statement, which is safe to run again (nothing was committed)."""
    notes = Notes(app)
    pid = app.run_mutation(notes.add, text="before")
    assert app.engine.pool.checkedin() == 1  # so the next call gets the connection killed here
    with admin_connection(app) as admin:
        terminate(admin, {pid})
    assert app.run_mutation(notes.add, text="after") != pid
    assert notes.texts() == ["before", "after"]
    assert notes.attempts["after"] == 2  # the attempt that met the dead connection, then one more


def test_reading_jobs_on_a_pooled_connection_that_died_reads_again_on_a_fresh_one(app):
    notes = Notes(app)

    @app.mutation(name="pg.lost.plan")
    def plan(ctx: Any) -> str:
        return ctx.scheduler.run_after(60, notes.add, text="later")

    job_id = app.run_mutation(plan)
    with app.engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    assert app.engine.pool.checkedin() == 1
    with admin_connection(app) as admin:
        terminate(admin, {pid})
    assert app.get_job(job_id).state == "pending"
    assert [job.id for job in app.list_jobs()] == [job_id]


def test_a_worker_carries_on_after_its_connections_are_cut(app):
    """The worker's LISTEN connection and pooled connections die (as in a server restart):
    it falls back to polling, reconnects, and runs the jobs scheduled afterwards."""
    notes = Notes(app)

    @app.mutation
    def plan(ctx: Any, text: str) -> str:
        return ctx.scheduler.run_after(0, notes.add, text=text)

    with admin_connection(app) as admin:
        others = backends(admin)
        with app.start_worker(poll_interval=0.2) as worker:
            first = app.run_mutation(plan, text="before")
            assert wait_for(lambda: app.get_job(first).state == "success", timeout=10)
            terminate(admin, backends(admin) - others)
            second = app.run_mutation(plan, text="after")
            assert wait_for(lambda: app.get_job(second).state == "success", timeout=10), (
                app.get_job(second)
            )
            assert worker.is_alive()
    assert notes.texts() == ["before", "after"]


def test_a_worker_records_an_action_s_outcome_after_losing_its_connection(app):
    """The database drops the worker's connections while an action runs (a restart): the
    outcome is recorded on a fresh connection, not left `in_progress` under a lease."""
    calls: list[int] = []

    @app.action(name="pg.lost.cut")
    def cut(ctx: Any) -> None:
        calls.append(ctx.attempt)
        with admin_connection(app) as admin:
            terminate(admin, backends(admin))

    @app.mutation
    def plan(ctx: Any) -> str:
        return ctx.scheduler.run_after(0, cut)

    job_id = app.run_mutation(plan)
    worker = Worker(app.runtime, worker_id="cut-worker")
    try:
        assert worker.run_next()
    finally:
        worker.close()
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.error) == ("success", 1, None)
    assert calls == [1]
    assert worker.renew_leases() == 0  # nothing left to renew


# --- conflicts in pipeline mode --------------------------------------------------------------

FORCED_CONFLICT = Statement(
    sa.text("DO $$ BEGIN RAISE EXCEPTION 'forced conflict' USING ERRCODE = '40001'; END $$")
)
SELECT_ONE = Statement(sa.text("SELECT 1"))


def test_a_conflict_inside_a_pipelined_flush_surfaces_once_and_the_call_runs_again(app, caplog):
    """A flush's statements go out in pipeline mode: when one fails, those queued after it are
    aborted. The failure itself (a conflict here) must reach the runner, which runs the call
    again, and nothing must be logged about the aborted rest."""
    attempts: list[int] = []

    def body(tx: Any) -> int:
        attempts.append(len(attempts) + 1)
        with tx.db.writes():
            if len(attempts) == 1:
                tx.db.run(FORCED_CONFLICT, {})
                time.sleep(0.05)  # its error is back before the next statement goes out...
            tx.db.run(SELECT_ONE, {})  # ...so psycopg raises it here, inside the block
            tx.db.run(SELECT_ONE, {})
        return len(attempts)

    with caplog.at_level(logging.DEBUG):
        assert app.runtime.runner.run(body) == 2
    assert app.runtime.runner.retries() == {"conflict": 1}
    assert not [r for r in caplog.records if "pipeline" in r.getMessage()], caplog.text


# --- jobs tied to elements -------------------------------------------------------------------


def tied_jobs_workflow(app: tq.App, seen: list[str]) -> tq.WorkflowApi:
    """A one-task workflow whose work item ties a job due now; its `on_completed` activity
    reports the job's state as the call sees it right after the work item's teardown."""

    @app.mutation(name="pg.tied.noop")
    def noop(ctx: Any) -> None:
        seen.append("ran")

    def initialize(ctx: Any, payload: Any) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(0, noop))

    def completed(ctx: Any) -> None:
        (job,) = ctx.scheduler.list(function="pg.tied.noop")
        seen.append(job.state)

    item = (
        Builder.work_item("item")
        .with_actions(Builder.work_item_actions().initialize(None, initialize))
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start(), on_completed=completed)
    )
    wf = (
        Builder.workflow("pg_tied")
        .start_condition("start")
        .end_condition("end")
        .task(
            "a", Builder.task(item).with_activities(on_enabled=lambda c: c.work_item.initialize())
        )
        .connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("pg_tied").version("v1", wf)).api("v1")


def raw_job_states(app: tq.App) -> list[tuple[str, int]]:
    with app.engine.connect() as connection:
        states = connection.exec_driver_sql("SELECT state FROM tasquencer_jobs").scalars().all()
        recorded = connection.exec_driver_sql("SELECT count(*) FROM tasquencer_job_cancels")
        return [(state, recorded.scalar_one()) for state in states]


def test_a_teardown_records_the_cancellation_and_applies_it_after_the_commit(app):
    """The call only inserts the cancellation (updating the job row would conflict with a
    worker claiming it meanwhile); the call itself already sees the job canceled, and once it
    has committed the job row is canceled and the record gone."""
    seen: list[str] = []
    api = tied_jobs_workflow(app, seen)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)
    api.internal_complete_work_item(item.id)
    assert seen == ["canceled"]
    assert raw_job_states(app) == [("canceled", 0)]
    assert app.run_due_jobs() == 0
    assert seen == ["canceled"]


def test_a_cancellation_not_applied_after_the_commit_is_applied_by_the_worker(app, monkeypatch):
    """Should applying it right after the commit fail, readers still see the job canceled and
    the worker that finds it due cancels it instead of running it."""
    from tasquencer.store import jobs as st

    seen: list[str] = []
    api = tied_jobs_workflow(app, seen)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)
    failing = Statement(sa.text("SELECT 1 / 0 WHERE CAST(:ids AS text[]) IS NOT NULL"))
    monkeypatch.setattr(st, "APPLY_CANCELS", failing)
    api.internal_complete_work_item(item.id)
    assert raw_job_states(app) == [("pending", 1)]
    (job,) = app.list_jobs()
    assert (job.state, job.finished_at) == ("canceled", app.clock.now())
    assert app.list_jobs(state="pending") == []
    assert app.run_due_jobs() == 0
    assert raw_job_states(app) == [("canceled", 1)]
    assert seen == ["canceled"]
    app.clock.advance(8 * 24 * 3600)
    assert app.prune_jobs() == 1
    assert raw_job_states(app) == []
