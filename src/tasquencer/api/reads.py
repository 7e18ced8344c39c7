"""Read queries over the engine's tables; each returns records of `tasquencer.records`.

Ids are resolved by the engine (`engine.lookup`), as for commands: an API reads only the
instances of its own workflow.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tasquencer.engine import lookup
from tasquencer.engine.definitions import CompiledVersion
from tasquencer.engine.instances import WorkflowInstance
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
from tasquencer.store.tables import conditions, migrations, tasks, work_items, workflows


def workflow_state(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowState:
    return _workflow(tx, workflow_name, workflow_id).row.state  # type: ignore[return-value]


def work_item_state(tx: Transaction, workflow_name: str, work_item_id: str) -> WorkItemState:
    return lookup.work_item(tx.execution, workflow_name, work_item_id).row.state  # type: ignore[return-value]


def work_item(tx: Transaction, workflow_name: str, work_item_id: str) -> WorkItem:
    row = lookup.work_item(tx.execution, workflow_name, work_item_id).row
    state: WorkItemState = row.state  # type: ignore[assignment]
    return WorkItem(row.id, row.name, state, row.task_name, row.task_generation, row.workflow_id)


def task_states(tx: Transaction, workflow_name: str, workflow_id: str) -> dict[str, str]:
    definition = _workflow(tx, workflow_name, workflow_id).definition
    rows: dict[str, str] = {
        name: state
        for name, state in tx.connection.execute(
            sa.select(tasks.c.name, tasks.c.state).where(tasks.c.workflow_id == workflow_id)
        )
    }
    return {name: rows[name] for name in definition.net.tasks}


def snapshot(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowSnapshot:
    workflow = _workflow(tx, workflow_name, workflow_id)
    row, definition = workflow.row, workflow.definition
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
        state=row.state,  # type: ignore[arg-type]
        execution_mode=row.execution_mode,
        tasks={
            name: TaskSnapshot(task_rows[name].state, task_rows[name].generation)
            for name in definition.net.tasks
        },
        conditions={name: markings[name] for name in definition.net.conditions},
        work_items=_work_items(tx, workflow_id, None, None),
        child_workflows=_child_workflows(tx, workflow_id, None),
        migrated_from=_migration_link(tx, migrations.c.to_workflow_id, workflow_id),
        migrated_to=_migration_link(tx, migrations.c.from_workflow_id, workflow_id),
        parent_workflow_id=row.parent_workflow_id,
    )


def _migration_link(tx: Transaction, side: sa.Column[str], workflow_id: str) -> str | None:
    """The other end of the migration link whose `side` is this workflow, if any."""
    other = (
        migrations.c.from_workflow_id
        if side is migrations.c.to_workflow_id
        else migrations.c.to_workflow_id
    )
    found = tx.connection.execute(sa.select(other).where(side == workflow_id)).scalar()
    return found if isinstance(found, str) else None


def list_work_items(
    tx: Transaction,
    workflow_name: str,
    workflow_id: str,
    task_name: str | None = None,
    state: str | None = None,
) -> list[WorkItem]:
    _workflow(tx, workflow_name, workflow_id)
    return _work_items(tx, workflow_id, task_name, state)


def list_child_workflows(
    tx: Transaction, workflow_name: str, workflow_id: str, task_name: str | None
) -> list[ChildWorkflow]:
    _workflow(tx, workflow_name, workflow_id)
    return _child_workflows(tx, workflow_id, task_name)


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
    rows = tx.connection.execute(query.order_by(workflows.c.id))
    return [
        WorkflowRecord(
            r.id,
            r.name,
            r.version_name,
            r.state,
            r.execution_mode,
            r.parent_workflow_id,
            _time(tx, r.created_at),
        )
        for r in rows
    ]


def _time(tx: Transaction, stored: object) -> datetime:
    """A NOT NULL time column's value, UTC-aware on every database (SQLite's come back naive)."""
    value = tx.core.dialect.time_out(stored)
    assert value is not None
    return value


def _work_items(
    tx: Transaction, workflow_id: str, task_name: str | None, state: str | None
) -> list[WorkItem]:
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


def _child_workflows(
    tx: Transaction, workflow_id: str, task_name: str | None
) -> list[ChildWorkflow]:
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


def _workflow(tx: Transaction, workflow_name: str, workflow_id: str) -> WorkflowInstance:
    return lookup.workflow(tx.execution, workflow_name, workflow_id)
