"""The audit trail: traces (one per root workflow tree), spans, checkpoints of a tree's state.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
Id = sa.String(32)
Name = sa.String(200)
State = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "tasquencer_audit_traces",
        sa.Column("key", Id, primary_key=True),
        sa.Column("trace_id", Id, nullable=False),
        sa.Column("name", Name, nullable=False),
        sa.Column("version_name", Name, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp),
        sa.Column("next_seq", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        # A root's change of state updates its trace's row: leave room for HOT updates (0004).
        op.execute("ALTER TABLE tasquencer_audit_traces SET (fillfactor = 50)")
    op.create_table(
        "tasquencer_audit_spans",
        sa.Column("trace_id", Id, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("spans", JSON, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_audit_checkpoints",
        sa.Column("trace_id", Id, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("state", JSON, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("tasquencer_audit_checkpoints")
    op.drop_table("tasquencer_audit_spans")
    op.drop_table("tasquencer_audit_traces")
