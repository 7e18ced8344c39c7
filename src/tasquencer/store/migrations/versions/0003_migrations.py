"""The link between a migrated instance and the one that replaced it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasquencer_migrations",
        sa.Column("to_workflow_id", sa.String(32), primary_key=True),
        sa.Column("from_workflow_id", sa.String(32), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("from_version", sa.String(200), nullable=False),
        sa.Column("to_version", sa.String(200), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_tasquencer_migrations_from", "tasquencer_migrations", ["from_workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_tasquencer_migrations_from", "tasquencer_migrations")
    op.drop_table("tasquencer_migrations")
