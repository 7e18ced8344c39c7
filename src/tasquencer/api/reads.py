"""Read queries over the engine's tables; each returns records of `api.records`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tasquencer.api.records import (
    ChildWorkflow,
    TaskSnapshot,
    WorkflowRecord,
    WorkflowSnapshot,
    WorkItem,
)
from tasquencer.engine.definitions import CompiledVersion, WorkflowDef
from tasquencer.errors import (
    StructuralIntegrityError,
    WorkflowNotFoundError,
    WorkItemNotFoundError,
)
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.tables import conditions, tasks, work_items, workflows


def workflow_state(tx: Transaction, workflow_id: str) -> str:
    return _workflow_row(tx, workflow_id).state  # type: ignore[no-any-return]


def work_item_state(tx: Transaction, work_item_id: str) -> str:
    state = tx.connection.execute(
        sa.select(work_items.c.state).where(work_items.c.id == work_item_id)
    ).scalar()
    if state is None:
        raise WorkItemNotFoundError(f"there is no work item {work_item_id!r}")
    return state  # type: ignore[no-any-return]


def task_states(tx: Transaction, workflow_id: str) -> dict[str, str]:
    definition = _definition(tx, workflow_id)
    rows: dict[str, str] = {
        name: state
        for name, state in tx.connection.execute(
            sa.select(tasks.c.name, tasks.c.state).where(tasks.c.workflow_id == workflow_id)
        )
    }
    return {name: rows[name] for name in definition.net.tasks}


def snapshot(tx: Transaction, workflow_id: str) -> WorkflowSnapshot:
    row = _workflow_row(tx, workflow_id)
    definition = _definition(tx, workflow_id)
    task_rows = {
        r.name: r
        for r in tx.connection.execute(
            sa.select(tasks.c.name, tasks.c.state, tasks.c.generation).where(
                tasks.c.workflow_id == workflow_id
            )
        )
    }
    markings: dict[str, int] = {
        name: marking
        for name, marking in tx.connection.execute(
            sa.select(conditions.c.name, conditions.c.marking).where(
                conditions.c.workflow_id == workflow_id
            )
        )
    }
    return WorkflowSnapshot(
        id=row.id,
        name=row.name,
        version_name=row.version_name,
        state=row.state,
        execution_mode=row.execution_mode,
        tasks={
            name: TaskSnapshot(task_rows[name].state, task_rows[name].generation)
            for name in definition.net.tasks
        },
        conditions={name: markings[name] for name in definition.net.conditions},
        work_items=list_work_items(tx, workflow_id),
        child_workflows=list_child_workflows(tx, workflow_id, None),
    )


def list_work_items(
    tx: Transaction, workflow_id: str, task_name: str | None = None, state: str | None = None
) -> list[WorkItem]:
    _workflow_row(tx, workflow_id)
    query = sa.select(
        work_items.c.id,
        work_items.c.name,
        work_items.c.state,
        work_items.c.task_name,
        work_items.c.task_generation,
        work_items.c.workflow_id,
    ).where(work_items.c.workflow_id == workflow_id)
    if task_name is not None:
        query = query.where(work_items.c.task_name == task_name)
    if state is not None:
        query = query.where(work_items.c.state == state)
    return [WorkItem(*r) for r in tx.connection.execute(query.order_by(work_items.c.id))]


def list_child_workflows(
    tx: Transaction, workflow_id: str, task_name: str | None
) -> list[ChildWorkflow]:
    _workflow_row(tx, workflow_id)
    query = sa.select(
        workflows.c.id,
        workflows.c.name,
        workflows.c.state,
        workflows.c.parent_task_generation,
        workflows.c.parent_task_name,
    ).where(workflows.c.parent_workflow_id == workflow_id)
    if task_name is not None:
        query = query.where(workflows.c.parent_task_name == task_name)
    return [ChildWorkflow(*r) for r in tx.connection.execute(query.order_by(workflows.c.id))]


def list_workflows(
    tx: Transaction, version: CompiledVersion, state: str | None
) -> list[WorkflowRecord]:
    query = sa.select(
        workflows.c.id,
        workflows.c.name,
        workflows.c.version_name,
        workflows.c.state,
        workflows.c.execution_mode,
        workflows.c.parent_workflow_id,
        workflows.c.created_at,
    ).where(
        workflows.c.name == version.workflow_name,
        workflows.c.version_name == version.version_name,
        workflows.c.parent_workflow_id.is_(None),
    )
    if state is not None:
        query = query.where(workflows.c.state == state)
    return [WorkflowRecord(*r) for r in tx.connection.execute(query.order_by(workflows.c.id))]


def _workflow_row(tx: Transaction, workflow_id: str) -> sa.Row[Any]:
    row = tx.connection.execute(
        sa.select(
            workflows.c.id,
            workflows.c.name,
            workflows.c.version_name,
            workflows.c.path,
            workflows.c.state,
            workflows.c.execution_mode,
        ).where(workflows.c.id == workflow_id)
    ).first()
    if row is None:
        raise WorkflowNotFoundError(f"there is no workflow {workflow_id!r}")
    return row


def _definition(tx: Transaction, workflow_id: str) -> WorkflowDef:
    row = _workflow_row(tx, workflow_id)
    compiled = tx.app.compiled_version(row.path[0], row.version_name)
    definition = compiled.workflow_at(tuple(row.path))
    if definition is None:
        raise StructuralIntegrityError(
            f"workflow {workflow_id} has path {row.path}, which its version does not define"
        )
    return definition
