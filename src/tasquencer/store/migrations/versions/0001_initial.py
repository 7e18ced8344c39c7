"""The engine's tables: workflows, tasks, task log, conditions, work items, stats, jobs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
Id = sa.String(32)
Name = sa.String(200)
State = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "tasquencer_workflows",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Name, nullable=False),
        sa.Column("version_name", Name, nullable=False),
        sa.Column("path", JSON, nullable=False),
        sa.Column("root_workflow_id", Id, nullable=False),
        sa.Column("realized_path", JSON, nullable=False),
        sa.Column("parent_workflow_id", Id),
        sa.Column("parent_task_name", Name),
        sa.Column("parent_task_generation", sa.Integer),
        sa.Column("state", State, nullable=False),
        sa.Column("execution_mode", State, nullable=False),
        sa.Column("has_jobs", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tasquencer_workflows_parent",
        "tasquencer_workflows",
        ["parent_workflow_id", "parent_task_name", "parent_task_generation"],
    )
    op.create_index("ix_tasquencer_workflows_root", "tasquencer_workflows", ["root_workflow_id"])
    op.create_index(
        "ix_tasquencer_workflows_name_version",
        "tasquencer_workflows",
        ["name", "version_name", "state"],
    )
    op.create_table(
        "tasquencer_tasks",
        sa.Column("workflow_id", Id, primary_key=True),
        sa.Column("name", Name, primary_key=True),
        sa.Column("state", State, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("execution_mode", State, nullable=False),
        sa.Column("jobs_generation", sa.Integer),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_task_log",
        sa.Column("workflow_id", Id, primary_key=True),
        sa.Column("task_name", Name, primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("state", State, primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_conditions",
        sa.Column("workflow_id", Id, primary_key=True),
        sa.Column("name", Name, primary_key=True),
        sa.Column("marking", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_work_items",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Name, nullable=False),
        sa.Column("workflow_id", Id, nullable=False),
        sa.Column("root_workflow_id", Id, nullable=False),
        sa.Column("task_name", Name, nullable=False),
        sa.Column("task_generation", sa.Integer, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("has_jobs", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tasquencer_work_items_task",
        "tasquencer_work_items",
        ["workflow_id", "task_name", "task_generation"],
    )
    op.create_table(
        "tasquencer_task_stats",
        sa.Column("workflow_id", Id, primary_key=True),
        sa.Column("task_name", Name, primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("initialized", sa.Integer, nullable=False),
        sa.Column("started", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("canceled", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_jobs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("function", sa.String(400), nullable=False),
        sa.Column("kind", State, nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("run_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", Timestamp),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_tasquencer_jobs_due", "tasquencer_jobs", ["state", "run_at"])
    op.create_table(
        "tasquencer_job_runs",
        sa.Column("job_id", Id, primary_key=True),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("committed_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_scheduled",
        sa.Column("element_key", sa.String(300), primary_key=True),
        sa.Column("job_id", Id, primary_key=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in (
        "tasquencer_scheduled",
        "tasquencer_job_runs",
        "tasquencer_jobs",
        "tasquencer_task_stats",
        "tasquencer_work_items",
        "tasquencer_conditions",
        "tasquencer_task_log",
        "tasquencer_tasks",
        "tasquencer_workflows",
    ):
        op.drop_table(table)
