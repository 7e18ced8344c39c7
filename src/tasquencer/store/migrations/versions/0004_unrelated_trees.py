"""Calls on unrelated workflow trees no longer meet in the indexes (PostgreSQL SERIALIZABLE).

- The jobs tied to an element move from `tasquencer_scheduled` onto the element's own row
  (`job_ids`, replacing `has_jobs`), so a teardown reads no shared index to find them; the
  table goes.
- `state` leaves `ix_tasquencer_workflows_name_version`: a workflow's state change is a HOT
  update, which writes no index entry.
- `tasquencer_job_cancels`: a call records there the cancellation of the jobs tied to the
  elements it tears down, rather than updating job rows that workers update too.
- On PostgreSQL, the tables whose rows calls update leave half of each page to HOT updates.

Revision ID: 0004
Revises: 0003
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
# SQLite recreates a table to drop a column: keep it a WITHOUT ROWID table.
SQLITE_TABLE = {"sqlite_with_rowid": False}
UPDATED_TABLES = (
    "tasquencer_workflows",
    "tasquencer_tasks",
    "tasquencer_conditions",
    "tasquencer_work_items",
    "tasquencer_task_stats",
    "tasquencer_jobs",
)
ELEMENT_TABLES = ("tasquencer_workflows", "tasquencer_work_items", "tasquencer_tasks")

scheduled = sa.table(
    "tasquencer_scheduled",
    sa.column("element_key", sa.String),
    sa.column("job_id", sa.String),
    sa.column("created_at", Timestamp),
)
workflows = sa.table(
    "tasquencer_workflows",
    sa.column("id", sa.String),
    sa.column("has_jobs", sa.Boolean),
    sa.column("job_ids", JSON),
)
work_items = sa.table(
    "tasquencer_work_items",
    sa.column("id", sa.String),
    sa.column("has_jobs", sa.Boolean),
    sa.column("job_ids", JSON),
)
tasks = sa.table(
    "tasquencer_tasks",
    sa.column("workflow_id", sa.String),
    sa.column("name", sa.String),
    sa.column("jobs_generation", sa.Integer),
    sa.column("job_ids", JSON),
)


def upgrade() -> None:
    for table in ELEMENT_TABLES:
        op.add_column(table, sa.Column("job_ids", JSON))
    _tie_registered_jobs_to_their_elements()
    with op.batch_alter_table("tasquencer_workflows", table_kwargs=SQLITE_TABLE) as batch:
        batch.drop_index("ix_tasquencer_workflows_name_version")
        batch.create_index("ix_tasquencer_workflows_name_version", ["name", "version_name"])
        batch.drop_column("has_jobs")
    with op.batch_alter_table("tasquencer_work_items", table_kwargs=SQLITE_TABLE) as batch:
        batch.drop_column("has_jobs")
    op.drop_table("tasquencer_scheduled")

    op.create_table(
        "tasquencer_job_cancels",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("canceled_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.execute(
        "UPDATE tasquencer_jobs SET state = 'canceled', finished_at = (SELECT canceled_at FROM"
        " tasquencer_job_cancels WHERE job_id = tasquencer_jobs.id) WHERE state = 'pending'"
        " AND id IN (SELECT job_id FROM tasquencer_job_cancels)"
    )
    op.drop_table("tasquencer_job_cancels")

    op.create_table(
        "tasquencer_scheduled",
        sa.Column("element_key", sa.String(300), primary_key=True),
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    for table in ("tasquencer_workflows", "tasquencer_work_items"):
        op.add_column(table, sa.Column("has_jobs", sa.Boolean, nullable=False, server_default="0"))
    _register_tied_jobs()
    with op.batch_alter_table("tasquencer_workflows", table_kwargs=SQLITE_TABLE) as batch:
        batch.alter_column("has_jobs", server_default=None)
        batch.drop_column("job_ids")
        batch.drop_index("ix_tasquencer_workflows_name_version")
        batch.create_index(
            "ix_tasquencer_workflows_name_version", ["name", "version_name", "state"]
        )
    with op.batch_alter_table("tasquencer_work_items", table_kwargs=SQLITE_TABLE) as batch:
        batch.alter_column("has_jobs", server_default=None)
        batch.drop_column("job_ids")
    with op.batch_alter_table("tasquencer_tasks", table_kwargs=SQLITE_TABLE) as batch:
        batch.drop_column("job_ids")


# --- data ------------------------------------------------------------------------------------


def _tie_registered_jobs_to_their_elements() -> None:
    """Each registration `(element key, job id)` becomes an entry of the element's `job_ids`."""
    bind = op.get_bind()
    tied: dict[str, list[str]] = defaultdict(list)
    rows = bind.execute(
        sa.select(scheduled.c.element_key, scheduled.c.job_id).order_by(
            scheduled.c.created_at, scheduled.c.job_id
        )
    )
    for key, job_id in rows:
        tied[key].append(job_id)
    for key, job_ids in tied.items():
        kind, _, rest = key.partition("/")
        if kind == "workflow":
            bind.execute(workflows.update().where(workflows.c.id == rest).values(job_ids=job_ids))
        elif kind == "work_item":
            bind.execute(work_items.update().where(work_items.c.id == rest).values(job_ids=job_ids))
        elif kind == "task":
            workflow_id, _, task_generation = rest.partition("/")
            name, _, generation = task_generation.rpartition("/")
            bind.execute(
                tasks.update()
                .where(
                    tasks.c.workflow_id == workflow_id,
                    tasks.c.name == name,
                    tasks.c.jobs_generation == int(generation),
                )
                .values(job_ids=job_ids)
            )


def _register_tied_jobs() -> None:
    bind = op.get_bind()
    now = sa.func.current_timestamp()
    for table, kind in ((workflows, "workflow"), (work_items, "work_item")):
        for element_id, job_ids in bind.execute(
            sa.select(table.c.id, table.c.job_ids).where(table.c.job_ids.is_not(None))
        ):
            bind.execute(table.update().where(table.c.id == element_id).values(has_jobs=True))
            for job_id in job_ids:
                key = f"{kind}/{element_id}"
                bind.execute(
                    scheduled.insert().values(element_key=key, job_id=job_id, created_at=now)
                )
    for workflow_id, name, generation, job_ids in bind.execute(
        sa.select(
            tasks.c.workflow_id, tasks.c.name, tasks.c.jobs_generation, tasks.c.job_ids
        ).where(tasks.c.job_ids.is_not(None))
    ):
        for job_id in job_ids:
            key = f"task/{workflow_id}/{name}/{generation}"
            bind.execute(scheduled.insert().values(element_key=key, job_id=job_id, created_at=now))
