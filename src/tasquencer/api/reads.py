"""Read queries over the engine's tables; each returns records of `tasquencer.records`.

Each read is one statement compiled once (`store.statements`, `READ_*`; a snapshot takes two)
run on the call's driver cursor. It starts from the instance's row, so the id is checked in
the same statement: an API reads only the instances of its own workflow (`engine.lookup`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from tasquencer.engine import lookup
from tasquencer.engine.definitions import CompiledVersion, WorkflowDef
from tasquencer.errors import TasquencerError
from tasquencer.records import (
    ChildWorkflow,
    TaskSnapshot,
    WorkflowRecord,
    WorkflowSnapshot,
    WorkflowState,
    WorkItem,
    WorkItemState,
)
from tasquencer.runtime.transaction import Transaction
from tasquencer.store import statements as st
from tasquencer.store.rows import WorkflowRow
from tasquencer.store.sql import Params, Row, Statement

# The columns every instance read starts with: path, version name, root workflow id.
HEAD = len(st.READ_HEAD_COLUMNS)
_TASK, _CONDITION, _WORK_ITEM, _CHILD = 0, 1, 2, 3


def workflow_state(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowState:
    _definition, rows = _instance_rows(tx, st.READ_WORKFLOW_STATE, workflow_name, workflow_id)
    return rows[0][HEAD]  # type: ignore[no-any-return]


def work_item_state(tx: Transaction, workflow_name: str, work_item_id: str) -> WorkItemState:
    row = _work_item_row(tx, st.READ_WORK_ITEM_STATE, workflow_name, work_item_id)
    return row[HEAD]  # type: ignore[no-any-return]


def work_item(tx: Transaction, workflow_name: str, work_item_id: str) -> WorkItem:
    return WorkItem(*_work_item_row(tx, st.READ_WORK_ITEM, workflow_name, work_item_id)[HEAD:])


def _work_item_row(
    tx: Transaction, statement: Statement, workflow_name: str, work_item_id: str
) -> Row:
    """A work item's row (head columns first, its workflow id last), once its id and
    workflow are checked."""
    given = lookup.id_to_find(work_item_id, "work_item_id")
    row = tx.db.one(statement, {"id": given}) if given is not None else None
    if row is None:
        raise lookup.no_work_item(workflow_name, work_item_id)
    _check(
        tx, row, workflow_name, row[-1], lambda: lookup.no_work_item(workflow_name, work_item_id)
    )
    return row


def task_states(tx: Transaction, workflow_name: str, workflow_id: str) -> dict[str, str]:
    definition, rows = _instance_rows(tx, st.READ_TASK_STATES, workflow_name, workflow_id)
    states: dict[str, str] = {r[HEAD]: r[HEAD + 1] for r in rows}
    return {name: states[name] for name in definition.net.tasks}


def snapshot(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowSnapshot:
    definition, (head,) = _instance_rows(tx, st.READ_SNAPSHOT_HEAD, workflow_name, workflow_id)
    by_kind: tuple[list[Row], list[Row], list[Row], list[Row]] = ([], [], [], [])
    for r in tx.db.all(st.READ_SNAPSHOT_ROWS, {"id": workflow_id}):
        by_kind[r[0]].append(r)
    tasks = {r[2]: _task_snapshot(r[3], r[5]) for r in by_kind[_TASK]}
    markings: dict[str, int] = {r[2]: r[5] for r in by_kind[_CONDITION]}
    name, state, execution_mode, parent, migrated_from, migrated_to = head[HEAD:]
    return WorkflowSnapshot(
        id=workflow_id,
        name=name,
        version_name=head[1],
        state=state,
        execution_mode=execution_mode,
        tasks={task: tasks[task] for task in definition.net.tasks},
        conditions={condition: markings[condition] for condition in definition.net.conditions},
        work_items=[WorkItem(*r[1:]) for r in sorted(by_kind[_WORK_ITEM])],
        child_workflows=[
            ChildWorkflow(r[1], r[2], r[3], r[5], r[4]) for r in sorted(by_kind[_CHILD])
        ],
        migrated_from=migrated_from,
        migrated_to=migrated_to,
        parent_workflow_id=parent,
    )


@lru_cache(maxsize=1024)
def _task_snapshot(state: str, generation: int) -> TaskSnapshot:
    """Task snapshots are immutable values, and an instance's tasks share a few: made once."""
    return TaskSnapshot(state, generation)  # type: ignore[arg-type]


def list_work_items(
    tx: Transaction,
    workflow_name: str,
    workflow_id: str,
    task_name: str | None = None,
    state: str | None = None,
) -> list[WorkItem]:
    statement = st.READ_WORK_ITEMS[task_name is not None, state is not None]
    params = {"task_name": task_name, "state": state}
    _definition, rows = _instance_rows(tx, statement, workflow_name, workflow_id, params)
    if rows[0][HEAD] is None:  # the instance has none (the LEFT JOIN's one row)
        return []
    return [WorkItem(*r[HEAD:]) for r in rows]


def list_child_workflows(
    tx: Transaction, workflow_name: str, workflow_id: str, task_name: str | None
) -> list[ChildWorkflow]:
    statement = st.READ_CHILDREN[task_name is not None]
    params = {"task_name": task_name}
    _definition, rows = _instance_rows(tx, statement, workflow_name, workflow_id, params)
    if rows[0][HEAD] is None:
        return []
    return [ChildWorkflow(*r[HEAD:]) for r in rows]


def list_workflows(
    tx: Transaction, version: CompiledVersion, state: str | None
) -> list[WorkflowRecord]:
    params = {
        "workflow_name": version.workflow_name,
        "version_name": version.version_name,
        "state": state,
    }
    rows = tx.db.all(st.READ_WORKFLOWS[state is not None], params)
    time_out = tx.core.dialect.time_out
    return [
        WorkflowRecord(*r[:6], _created_at(time_out(r[6])))  # type: ignore[call-arg]
        for r in rows
    ]


def _created_at(value: datetime | None) -> datetime:
    """A NOT NULL time column's value, UTC-aware on every database (SQLite's come back naive)."""
    assert value is not None
    return value


def _instance_rows(
    tx: Transaction,
    statement: Statement,
    workflow_name: str,
    workflow_id: str,
    params: Params | None = None,
) -> tuple[WorkflowDef, list[Row]]:
    """A read that starts from the instance's row, once its id is checked; and its definition."""
    given = lookup.id_to_find(workflow_id, "workflow_id")
    rows = (
        tx.db.all(statement, {**params, "id": given} if params else {"id": given})
        if (given is not None)
        else []
    )
    if not rows:
        raise lookup.no_workflow(workflow_name, workflow_id)
    definition = _check(
        tx,
        rows[0],
        workflow_name,
        workflow_id,
        lambda: lookup.no_workflow(workflow_name, workflow_id),
    )
    return definition, rows


def _check(
    tx: Transaction,
    row: Row,
    workflow_name: str,
    workflow_id: str,
    not_found: Callable[[], TasquencerError],
) -> WorkflowDef:
    """The definition of the instance whose head columns start `row`, if it is an instance of
    `workflow_name`; its tree is noted as the engine's own reads note it."""
    path = tx.core.dialect.path_out(row[0])
    if path[0] != workflow_name:
        raise not_found()
    tx.saw_tree(row[2])
    return lookup.stored_definition(tx.core.versions, workflow_id, path, row[1])


def workflow_row(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowRow:
    """The row of a workflow of this API's workflow, root or child."""
    return lookup.workflow(tx.execution, workflow_name, workflow_id).row
