"""Every statement the hot path runs on SQLite uses an index: none scans a whole table.

A table scan costs in proportion to the store's size, so one of them would make calls slower
as the database grows (`benchmarks/size.py` measures that). The statements are the ones SQLite
actually runs (traced on the driver) while instances are created, worked through and canceled
and every facade read is made, plus every statement of `store.statements` compiled for SQLite;
`EXPLAIN QUERY PLAN` of each must show no `SCAN` of a table, before and after `ANALYZE`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store import statements
from tasquencer.store.sql import SQLiteDialect, Statement
from tests.helpers import auto_item

SKIPPED = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|--)", re.IGNORECASE)


def _scans(connection: sqlite3.Connection, sql: str, params: Any = ()) -> list[str]:
    """The full table scans in the statement's plan."""
    plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return [
        detail
        for *_, detail in plan
        if detail.startswith("SCAN ") and not detail.startswith("SCAN CONSTANT ROW")
    ]


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A database file, and the SQL every connection opened meanwhile runs on it."""
    seen: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    sa.event.listen(sa.Engine, "connect", trace)
    try:
        yield tmp_path / "plans.db", seen
    finally:
        sa.event.remove(sa.Engine, "connect", trace)


def _workflow(app: tq.App) -> tq.WorkflowApi:
    """a (its work item ties a job) -> AND split into b and c -> d, each task with work."""

    @app.mutation(name="plans.later")
    def later(ctx: tq.MutationContext) -> None:
        pass

    def on_initialized(ctx: Any) -> None:
        ctx.register_scheduled(ctx.scheduler.run_after(3600, later))

    def task(with_job: bool = False) -> Any:
        item = (
            Builder.work_item("item").with_activities(on_initialized=on_initialized)
            if with_job
            else auto_item(start=False)
        )
        return Builder.task(item).with_activities(on_enabled=lambda c: c.work_item.initialize())

    workflow = (
        Builder.workflow("plans")
        .start_condition("start")
        .end_condition("end")
        .task("a", task(with_job=True).with_split_type("and"))
        .task("b", task())
        .task("c", task())
        .task("d", task().with_join_type("and"))
        .connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.task("b").task("c"))
        .connect_task("b", lambda to: to.task("d"))
        .connect_task("c", lambda to: to.task("d"))
        .connect_task("d", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("plans").version("v1", workflow)).api("v1")


def _work_through(api: tq.WorkflowApi) -> None:
    """Instances worked to the end and one canceled half-way, with every read between."""
    for _ in range(3):
        workflow_id = api.internal_initialize_root_workflow()
        while items := api.list_work_items(workflow_id, state="initialized"):
            for item in items:
                api.get_work_item(item.id)
                api.get_work_item_state(item.id)
                api.internal_start_work_item(item.id)
                api.internal_complete_work_item(item.id)
            api.get_workflow_state(workflow_id)
            api.get_workflow_task_states(workflow_id)
            api.get_workflow_snapshot(workflow_id)
            api.list_work_items(workflow_id, task_name="b")
            api.list_child_workflows(workflow_id)
        assert api.get_workflow_state(workflow_id) == "completed"
    canceled = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(canceled)
    api.internal_start_work_item(item.id)
    api.internal_cancel_root_workflow(canceled)
    api.list_workflows(state="completed")


def test_no_statement_of_a_call_scans_a_table(traced: tuple[Path, list[str]]) -> None:
    path, seen = traced
    with tq.App(f"sqlite:///{path}") as app:
        api = _workflow(app)
        seen.clear()  # the schema's creation is not a call
        _work_through(api)
    run = sorted({sql for sql in seen if not SKIPPED.match(sql)})
    assert any("tasquencer_work_items" in sql and sql.startswith("UPDATE") for sql in run)
    assert any(sql.startswith("SELECT") and "tasquencer_tasks" in sql for sql in run)
    with sqlite3.connect(path) as connection:
        scanning = {sql: scans for sql in run if (scans := _scans(connection, sql))}
        assert scanning == {}
        # With statistics the planner weighs indexes by what they hold: every workflow so far
        # is a root, whose parent is NULL, and an index of one value looks worthless.
        connection.execute("ANALYZE")
        scanning = {sql: scans for sql in run if (scans := _scans(connection, sql))}
        assert scanning == {}


def _module_statements() -> Iterator[tuple[str, Statement]]:
    for name, value in vars(statements).items():
        if isinstance(value, Statement):
            yield name, value
        elif isinstance(value, dict):
            for key, statement in value.items():
                if isinstance(statement, Statement):
                    yield f"{name}[{key}]", statement


@pytest.mark.parametrize(("name", "statement"), list(_module_statements()))
def test_each_engine_statement_uses_an_index(name: str, statement: Statement, tmp_path):
    path = tmp_path / "plans.db"
    tq.App(f"sqlite:///{path}").close()  # the current schema
    sql = statement.sql(SQLiteDialect())
    params = dict.fromkeys(re.findall(r":(\w+)", sql))
    with sqlite3.connect(path) as connection:
        assert _scans(connection, sql, params) == [], sql


def test_the_check_sees_a_scan(tmp_path):
    """The check itself: a lookup by an unindexed column is a SCAN."""
    path = tmp_path / "plans.db"
    tq.App(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        scans = _scans(connection, "SELECT id FROM tasquencer_workflows WHERE state = ?", ("x",))
    assert scans == ["SCAN tasquencer_workflows"]
