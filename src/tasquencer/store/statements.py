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
    workflows.c.has_jobs,
)
WORK_ITEM_COLUMNS = (
    work_items.c.id,
    work_items.c.name,
    work_items.c.workflow_id,
    work_items.c.root_workflow_id,
    work_items.c.task_name,
    work_items.c.task_generation,
    work_items.c.state,
    work_items.c.has_jobs,
)


def _insert(table: sa.Table, *skip: str) -> Statement:
    return Statement(
        sa.insert(table).values({c.name: p(c.name) for c in table.columns if c.name not in skip})
    )


SELECT_WORKFLOW = Statement(sa.select(*WORKFLOW_COLUMNS).where(workflows.c.id == p("id")))
SELECT_WORK_ITEM = Statement(
    sa.select(*WORK_ITEM_COLUMNS, *WORKFLOW_COLUMNS)
    .join_from(work_items, workflows, workflows.c.id == work_items.c.workflow_id)
    .where(work_items.c.id == p("id"))
)
# Tasks and conditions of one instance in one round trip: kind 0 = task, 1 = condition.
SELECT_INSTANCE = Statement(
    sa.union_all(
        sa.select(
            sa.literal_column("0").label("kind"),
            tasks.c.name,
            tasks.c.state,
            tasks.c.generation,
            tasks.c.execution_mode,
            tasks.c.jobs_generation,
        ).where(tasks.c.workflow_id == p("workflow_id")),
        sa.select(
            sa.literal_column("1"),
            conditions.c.name,
            sa.null(),
            conditions.c.marking,
            sa.null(),
            sa.null(),
        ).where(conditions.c.workflow_id == p("workflow_id")),
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
    .where(
        workflows.c.parent_workflow_id == p("workflow_id"),
        workflows.c.parent_task_name == p("task_name"),
        workflows.c.parent_task_generation == p("generation"),
    )
    .order_by(workflows.c.id)
)
SELECT_STATS = Statement(
    sa.select(
        task_stats.c.shard,
        task_stats.c.total,
        task_stats.c.initialized,
        task_stats.c.started,
        task_stats.c.completed,
        task_stats.c.failed,
        task_stats.c.canceled,
    ).where(
        task_stats.c.workflow_id == p("workflow_id"),
        task_stats.c.task_name == p("task_name"),
        task_stats.c.generation == p("generation"),
    )
)

INSERT_WORKFLOW = _insert(workflows)
UPDATE_WORKFLOW = Statement(
    sa.update(workflows)
    .where(workflows.c.id == p("id"))
    .values(state=p("state"), has_jobs=p("has_jobs"), updated_at=p("updated_at"))
)
INSERT_TASK = _insert(tasks)
UPDATE_TASK = Statement(
    sa.update(tasks)
    .where(tasks.c.workflow_id == p("workflow_id"), tasks.c.name == p("name"))
    .values(state=p("state"), generation=p("generation"), jobs_generation=p("jobs_generation"))
)
INSERT_CONDITION = _insert(conditions)
UPDATE_CONDITION = Statement(
    sa.update(conditions)
    .where(conditions.c.workflow_id == p("workflow_id"), conditions.c.name == p("name"))
    .values(marking=p("marking"))
)
INSERT_WORK_ITEM = _insert(work_items)
UPDATE_WORK_ITEM = Statement(
    sa.update(work_items)
    .where(work_items.c.id == p("id"))
    .values(state=p("state"), has_jobs=p("has_jobs"), updated_at=p("updated_at"))
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
