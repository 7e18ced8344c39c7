"""The engine's hot-path statements, as Core objects compiled once per dialect."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam as p
from sqlalchemy.dialects import postgresql, sqlite

from tasquencer.store.rows import STAT_FIELDS
from tasquencer.store.sql import Statement
from tasquencer.store.tables import (
    conditions,
    migrations,
    task_log,
    task_stats,
    tasks,
    versions,
    work_items,
    workflows,
)

# Timestamps are written but not read back: the engine never needs them while it works.
WORKFLOW_COLUMNS = (
    workflows.c.id,
    workflows.c.name,
    workflows.c.version_name,
    workflows.c.path,
    workflows.c.root_workflow_id,
    workflows.c.realized_path,
    workflows.c.parent_workflow_id,
    workflows.c.parent_task_name,
    workflows.c.parent_task_generation,
    workflows.c.state,
    workflows.c.execution_mode,
    workflows.c.job_ids,
)
WORK_ITEM_COLUMNS = (
    work_items.c.id,
    work_items.c.name,
    work_items.c.workflow_id,
    work_items.c.root_workflow_id,
    work_items.c.task_name,
    work_items.c.task_generation,
    work_items.c.state,
    work_items.c.job_ids,
)


# Root workflows have no parent: once SQLite has statistics (ANALYZE), the parent index looks
# like one value shared by every row, and the planner would scan the table instead of it.
_BY_PARENT = "INDEXED BY ix_tasquencer_workflows_parent"


def _insert(table: sa.Table, *skip: str) -> Statement:
    return Statement(
        sa.insert(table).values({c.name: p(c.name) for c in table.columns if c.name not in skip})
    )


SELECT_WORKFLOW = Statement(sa.select(*WORKFLOW_COLUMNS).where(workflows.c.id == p("id")))
STATS_COLUMNS = (
    task_stats.c.shard,
    task_stats.c.total,
    task_stats.c.initialized,
    task_stats.c.started,
    task_stats.c.completed,
    task_stats.c.failed,
    task_stats.c.canceled,
)
# A work item, its workflow and the stats of its task generation (a row per shard, or one with
# NULL stats when there are none yet): what completing it needs, in one statement.
SELECT_WORK_ITEM = Statement(
    sa.select(*WORK_ITEM_COLUMNS, *WORKFLOW_COLUMNS, *STATS_COLUMNS)
    .join_from(work_items, workflows, workflows.c.id == work_items.c.workflow_id)
    .outerjoin(
        task_stats,
        sa.and_(
            task_stats.c.workflow_id == work_items.c.workflow_id,
            task_stats.c.task_name == work_items.c.task_name,
            task_stats.c.generation == work_items.c.task_generation,
        ),
    )
    .where(work_items.c.id == p("id"))
)


def _instance_rows(workflow_id: sa.ColumnElement[Any]) -> sa.CompoundSelect[Any]:
    """Tasks and conditions of one instance in one statement: kind 0 = task, 1 = condition."""
    return sa.union_all(
        sa.select(
            sa.literal_column("0").label("kind"),
            tasks.c.name,
            tasks.c.state,
            tasks.c.generation,
            tasks.c.execution_mode,
            tasks.c.jobs_generation,
            tasks.c.job_ids,
        ).where(tasks.c.workflow_id == workflow_id),
        sa.select(
            sa.literal_column("1"),
            conditions.c.name,
            sa.null(),
            conditions.c.marking,
            sa.null(),
            sa.null(),
            sa.null(),
        ).where(conditions.c.workflow_id == workflow_id),
    )


SELECT_INSTANCE = Statement(_instance_rows(p("workflow_id")))
# The same rows for the instance a work item belongs to (read with the work item: PostgreSQL).
SELECT_INSTANCE_OF_WORK_ITEM = Statement(
    _instance_rows(
        sa.select(work_items.c.workflow_id).where(work_items.c.id == p("id")).scalar_subquery()
    )
)
SELECT_GENERATION_WORK_ITEMS = Statement(
    sa.select(*WORK_ITEM_COLUMNS)
    .where(
        work_items.c.workflow_id == p("workflow_id"),
        work_items.c.task_name == p("task_name"),
        work_items.c.task_generation == p("generation"),
    )
    .order_by(work_items.c.id)
)
SELECT_GENERATION_CHILDREN = Statement(
    sa.select(*WORKFLOW_COLUMNS)
    .with_hint(workflows, _BY_PARENT, "sqlite")
    .where(
        workflows.c.parent_workflow_id == p("workflow_id"),
        workflows.c.parent_task_name == p("task_name"),
        workflows.c.parent_task_generation == p("generation"),
    )
    .order_by(workflows.c.id)
)
SELECT_STATS = Statement(
    sa.select(*STATS_COLUMNS).where(
        task_stats.c.workflow_id == p("workflow_id"),
        task_stats.c.task_name == p("task_name"),
        task_stats.c.generation == p("generation"),
    )
)

INSERT_WORKFLOW = _insert(workflows)
UPDATE_WORKFLOW = Statement(
    sa.update(workflows)
    .where(workflows.c.id == p("id"))
    .values(state=p("state"), job_ids=p("job_ids"), updated_at=p("updated_at"))
)
INSERT_TASK = _insert(tasks)
UPDATE_TASK = Statement(
    sa.update(tasks)
    .where(tasks.c.workflow_id == p("workflow_id"), tasks.c.name == p("name"))
    .values(
        state=p("state"),
        generation=p("generation"),
        jobs_generation=p("jobs_generation"),
        job_ids=p("job_ids"),
    )
)
INSERT_CONDITION = _insert(conditions)
UPDATE_CONDITION = Statement(
    sa.update(conditions)
    .where(conditions.c.workflow_id == p("workflow_id"), conditions.c.name == p("name"))
    .values(marking=p("marking"))
)
INSERT_WORK_ITEM = _insert(work_items, "is_offered")
UPDATE_WORK_ITEM = Statement(
    sa.update(work_items)
    .where(work_items.c.id == p("id"))
    .values(state=p("state"), job_ids=p("job_ids"), updated_at=p("updated_at"))
)
INSERT_TASK_LOG = _insert(task_log)


def _upsert_stats(insert: Any) -> sa.Executable:
    statement = insert(task_stats).values({c.name: p(c.name) for c in task_stats.columns})
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[c.name for c in task_stats.primary_key.columns],
        set_={name: statement.excluded[name] for name in STAT_FIELDS},
    )


SAVE_STATS = Statement(
    {"sqlite": _upsert_stats(sqlite.insert), "postgresql": _upsert_stats(postgresql.insert)}
)

SELECT_VERSION = Statement(
    sa.select(versions.c.fingerprint, versions.c.shape).where(
        versions.c.workflow_name == p("workflow_name"), versions.c.version_name == p("version_name")
    )
)
SAVE_VERSION = Statement(
    {
        dialect: insert(versions)
        .values({c.name: p(c.name) for c in versions.columns})
        .on_conflict_do_nothing()
        for dialect, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
    }
)

INSERT_MIGRATION = _insert(migrations)
SELECT_MIGRATION_INTO = Statement(
    sa.select(
        migrations.c.from_workflow_id,
        workflows.c.name,
        migrations.c.from_version,
    )
    .join_from(migrations, workflows, workflows.c.id == migrations.c.from_workflow_id)
    .where(migrations.c.to_workflow_id == p("workflow_id"))
)

# --- the API's reads: one statement each (two for a snapshot), compiled once ---------------
# Each starts from the instance's row, so the read learns the instance's type and version
# (the API's check) in the same statement as its rows; a LEFT JOIN keeps that row when there
# are none.
READ_HEAD_COLUMNS = (workflows.c.path, workflows.c.version_name, workflows.c.root_workflow_id)
READ_WORK_ITEM_COLUMNS = (
    work_items.c.id,
    work_items.c.name,
    work_items.c.state,
    work_items.c.task_name,
    work_items.c.task_generation,
    work_items.c.workflow_id,
)


def _read_work_items(by_task: bool, by_state: bool) -> Statement:
    on = work_items.c.workflow_id == workflows.c.id
    if by_task:
        on &= work_items.c.task_name == p("task_name")
    if by_state:
        on &= work_items.c.state == p("state")
    return Statement(
        sa.select(*READ_HEAD_COLUMNS, *READ_WORK_ITEM_COLUMNS)
        .select_from(workflows.outerjoin(work_items, on))
        # With statistics of a small store SQLite scans work items for the outer join.
        .with_hint(work_items, "INDEXED BY ix_tasquencer_work_items_task", "sqlite")
        .where(workflows.c.id == p("id"))
        .order_by(work_items.c.id)
    )


# By (task_name given, state given).
READ_WORK_ITEMS = {
    (by_task, by_state): _read_work_items(by_task, by_state)
    for by_task in (False, True)
    for by_state in (False, True)
}
READ_WORKFLOW_STATE = Statement(
    sa.select(*READ_HEAD_COLUMNS, workflows.c.state).where(workflows.c.id == p("id"))
)
READ_WORK_ITEM = Statement(
    sa.select(*READ_HEAD_COLUMNS, *READ_WORK_ITEM_COLUMNS)
    .join_from(work_items, workflows, workflows.c.id == work_items.c.workflow_id)
    .where(work_items.c.id == p("id"))
)
# A work item's state and workflow, after the head columns.
READ_WORK_ITEM_STATE = Statement(
    sa.select(*READ_HEAD_COLUMNS, work_items.c.state, work_items.c.workflow_id)
    .join_from(work_items, workflows, workflows.c.id == work_items.c.workflow_id)
    .where(work_items.c.id == p("id"))
)
READ_TASK_STATES = Statement(
    sa.select(*READ_HEAD_COLUMNS, tasks.c.name, tasks.c.state)
    .select_from(workflows.outerjoin(tasks, tasks.c.workflow_id == workflows.c.id))
    .where(workflows.c.id == p("id"))
)


def _migration_link(side: sa.Column[str], other: sa.Column[str]) -> sa.ScalarSelect[Any]:
    return sa.select(other).where(side == workflows.c.id).limit(1).scalar_subquery()


READ_SNAPSHOT_HEAD = Statement(
    sa.select(
        *READ_HEAD_COLUMNS,
        workflows.c.name,
        workflows.c.state,
        workflows.c.execution_mode,
        workflows.c.parent_workflow_id,
        _migration_link(migrations.c.to_workflow_id, migrations.c.from_workflow_id),
        _migration_link(migrations.c.from_workflow_id, migrations.c.to_workflow_id),
    ).where(workflows.c.id == p("id"))
)
_TEXT_NULL = sa.cast(sa.null(), sa.String)
_INT_NULL = sa.cast(sa.null(), sa.Integer)
# An instance's tasks, conditions, work items and child workflows, one row shape:
# (kind, id or name, name, state, task name, generation or marking, workflow id),
# kind 0 = task, 1 = condition, 2 = work item, 3 = child workflow. Unordered: sorting the
# branches' rows in SQL costs a temporary b-tree each, more than the whole read otherwise.
READ_SNAPSHOT_ROWS = Statement(
    sa.union_all(
        sa.select(
            sa.literal_column("0").label("kind"),
            tasks.c.name.label("key"),
            tasks.c.name,
            tasks.c.state,
            _TEXT_NULL,
            tasks.c.generation,
            _TEXT_NULL,
        ).where(tasks.c.workflow_id == p("id")),
        sa.select(
            sa.literal_column("1"),
            conditions.c.name,
            conditions.c.name,
            _TEXT_NULL,
            _TEXT_NULL,
            conditions.c.marking,
            _TEXT_NULL,
        ).where(conditions.c.workflow_id == p("id")),
        sa.select(sa.literal_column("2"), work_items.c.id, *READ_WORK_ITEM_COLUMNS[1:]).where(
            work_items.c.workflow_id == p("id")
        ),
        sa.select(
            sa.literal_column("3"),
            workflows.c.id,
            workflows.c.name,
            workflows.c.state,
            workflows.c.parent_task_name,
            workflows.c.parent_task_generation,
            _TEXT_NULL,
        )
        .with_hint(workflows, _BY_PARENT, "sqlite")
        .where(workflows.c.parent_workflow_id == p("id")),
    )
)

_children = workflows.alias("children")
READ_CHILD_COLUMNS = (
    _children.c.id,
    _children.c.name,
    _children.c.state,
    _children.c.parent_task_generation,
    _children.c.parent_task_name,
)


def _read_children(by_task: bool) -> Statement:
    on = _children.c.parent_workflow_id == workflows.c.id
    if by_task:
        on &= _children.c.parent_task_name == p("task_name")
    return Statement(
        sa.select(*READ_HEAD_COLUMNS, *READ_CHILD_COLUMNS)
        .select_from(workflows.outerjoin(_children, on))
        .with_hint(_children, _BY_PARENT, "sqlite")
        .where(workflows.c.id == p("id"))
        .order_by(_children.c.id)
    )


# By whether task_name is given.
READ_CHILDREN = {by_task: _read_children(by_task) for by_task in (False, True)}


def _read_workflows(by_state: bool) -> Statement:
    query = sa.select(
        workflows.c.id,
        workflows.c.name,
        workflows.c.version_name,
        workflows.c.state,
        workflows.c.execution_mode,
        workflows.c.parent_workflow_id,
        workflows.c.created_at,
    ).where(
        workflows.c.name == p("workflow_name"),
        workflows.c.version_name == p("version_name"),
        workflows.c.parent_workflow_id.is_(None),
    )
    if by_state:
        query = query.where(workflows.c.state == p("state"))
    return Statement(query.order_by(workflows.c.id))


# By whether state is given.
READ_WORKFLOWS = {by_state: _read_workflows(by_state) for by_state in (False, True)}
