"""Round trips of a call on PostgreSQL, counted on the wire (libpq's trace of the connection).

A loopback round trip costs about as much as the engine's CPU step, so the runner sends the
BEGIN and the tree's lock with the call's first read (a work item, read with its instance's
rows), the last writes with the COMMIT, and ends reads in COMMIT, which keeps psycopg's
prepared statements (a ROLLBACK makes it send `DEALLOCATE ALL`). See docs/decisions.md, "A
completion is three round trips".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store.sql import Statement
from tasquencer.store.unit_of_work import UnitOfWork
from tests.helpers import auto_task, load_benchmark

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("postgres")  # its `Wire`: libpq's trace of what a block sends


def sequence(app: tq.App, ids: list[str]) -> tq.WorkflowApi:
    """Three tasks in a row, each work item started as it is created (ids noted)."""

    def started(ctx: Any) -> None:
        ids.append(ctx.work_item.id)
        ctx.work_item.start()

    item = Builder.work_item("item").with_activities(on_initialized=started)
    wf = Builder.workflow("trips").start_condition("start").end_condition("end")
    for name in ("a", "b", "c"):
        wf = wf.task(name, auto_task(item))
    wf = (
        wf.connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.task("b"))
        .connect_task("b", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("trips").version("v1", wf)).api("v1")


def traced(bench: ModuleType, app: tq.App, tmp_path: Path, call: Callable[[], object]) -> Any:
    wire = bench.Wire(app.engine, tmp_path)
    with wire.traced():
        call()
    return wire


def test_a_completion_is_three_round_trips_and_a_read_two(bench, app, tmp_path):
    ids: list[str] = []
    api = sequence(app, ids)
    for _ in range(6):  # past psycopg's prepare threshold, so statements are prepared
        workflow_id = api.internal_initialize_root_workflow()
        api.internal_complete_work_item(ids[-1])
        api.list_work_items(workflow_id)
    workflow_id = api.internal_initialize_root_workflow()

    completion = traced(bench, app, tmp_path, lambda: api.internal_complete_work_item(ids[-1]))
    # BEGIN + settings + the tree's lock + the work item + its instance's tasks and conditions;
    # the writes + the audit trail's numbers; the spans + COMMIT.
    assert completion.round_trips() == 3
    assert completion.sent("Query") == []  # no simple query: no BEGIN or COMMIT of its own
    assert completion.sent("Parse") == []  # every statement prepared, none parsed again

    read = traced(bench, app, tmp_path, lambda: api.list_work_items(workflow_id))
    assert read.round_trips() == 2  # BEGIN + the SELECT; COMMIT
    assert read.sent("Query") == ['"COMMIT"']
    again = traced(bench, app, tmp_path, lambda: api.internal_complete_work_item(ids[-1]))
    assert again.sent("Parse") == []  # the read kept the prepared statements
    assert again.round_trips() == 3
    assert api.get_workflow_state(workflow_id) == "started"  # the third task's item is open


def test_a_call_whose_tree_is_busy_sees_no_row_before_its_lock_is_refused(app, postgres_url):
    """The tree's lock goes out with the call's first read: a refused lock is raised before
    the call uses what that read returned, and the call waits its turn, then runs."""
    ids: list[str] = []
    api = sequence(app, ids)
    workflow_id = api.internal_initialize_root_workflow()
    other = sa.create_engine(postgres_url)
    try:
        with other.connect() as holder:
            holder.exec_driver_sql(
                "SELECT pg_advisory_lock(hashtextextended(%(root)s, 0))", {"root": workflow_id}
            )
            done: list[object] = []
            thread = threading.Thread(
                target=lambda: done.append(api.internal_complete_work_item(ids[-1]))
            )
            thread.start()
            thread.join(0.5)
            assert done == [] and thread.is_alive()  # refused, then queued behind the holder
            assert api.get_work_item(ids[0]).state == "started"
            holder.exec_driver_sql(
                "SELECT pg_advisory_unlock(hashtextextended(%(root)s, 0))", {"root": workflow_id}
            )
            thread.join(10)
        assert len(done) == 1
        assert api.get_work_item(ids[0]).state == "completed"
        assert app.runtime.runner.retries()["busy"] >= 1
    finally:
        other.dispose()


FORCED_CONFLICT = Statement(
    sa.text("DO $$ BEGIN RAISE EXCEPTION 'forced conflict' USING ERRCODE = '40001'; END $$")
)


def test_a_conflict_in_the_pipeline_of_the_commit_runs_the_call_again_once(app, monkeypatch):
    """The last writes go out with the COMMIT: a write refused there (a lost serialization
    race) aborts the COMMIT queued after it, and the runner runs the call again; what the
    first attempt wrote is not kept."""
    ids: list[str] = []
    api = sequence(app, ids)
    workflow_id = api.internal_initialize_root_workflow()
    attempts: list[int] = []
    flush = UnitOfWork.flush

    def flush_losing_once(self: UnitOfWork) -> None:
        flush(self)
        if self.db._pipeline is not None and not attempts:  # the call's last flush
            attempts.append(1)
            self.db.write(FORCED_CONFLICT, {})

    monkeypatch.setattr(UnitOfWork, "flush", flush_losing_once)
    created = api.internal_complete_work_item(ids[0])

    assert attempts == [1] and app.runtime.runner.retries() == {"conflict": 1}
    assert [item.task_name for item in created] == ["b"]
    assert [i.task_name for i in api.list_work_items(workflow_id)] == ["a", "b"]  # one b
