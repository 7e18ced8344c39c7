"""Authorization (groups, roles, memberships, role assignments) and work item offers.

An offer's `is_open` follows its work item through a trigger: the statement that writes a
final state of an offered work item (`is_offered`), by any path of the engine, closes the
offer, and a reset (started -> initialized) releases its claim. A start changes nothing in the
offer.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
Id = sa.String(32)
Name = sa.String(200)
State = sa.String(16)

# A final state closes the offer (its claim stays, as a record of who held it); a reset opens
# it to everyone it is offered to again.
_SET = """
    UPDATE tasquencer_work_item_offers
    SET is_open = (NEW.state = 'initialized'),
        claimed_by = CASE WHEN NEW.state = 'initialized' THEN NULL ELSE claimed_by END,
        claimed_at = CASE WHEN NEW.state = 'initialized' THEN NULL ELSE claimed_at END
    WHERE work_item_id = NEW.id;
"""
# Only for a work item that has been offered (`is_offered`, set when its offer is written): the
# trigger's lookup of an offer would otherwise, on PostgreSQL, predicate-lock the offers' index
# in every call that finishes a work item, and, while that index is empty, lock all of it.
_CHANGES = (
    "NEW.is_offered AND NEW.state <> OLD.state"
    " AND NEW.state IN ('initialized', 'completed', 'failed', 'canceled')"
)
_SQLITE_TRIGGER = f"""
CREATE TRIGGER tasquencer_offer_follows_work_item
AFTER UPDATE OF state ON tasquencer_work_items
WHEN {_CHANGES}
BEGIN {_SET} END
"""
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION tasquencer_offer_follows_work_item() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN {_SET} RETURN NULL;
END
$$
"""
_POSTGRES_TRIGGER = f"""
CREATE TRIGGER tasquencer_offer_follows_work_item
AFTER UPDATE OF state ON tasquencer_work_items
FOR EACH ROW WHEN ({_CHANGES})
EXECUTE FUNCTION tasquencer_offer_follows_work_item()
"""


def upgrade() -> None:
    op.add_column(
        "tasquencer_work_items",
        sa.Column("is_offered", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "tasquencer_auth_groups",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Name, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("metadata", JSON),
        sa.Column("created_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_auth_roles",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Name, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("metadata", JSON),
        sa.Column("created_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tasquencer_auth_memberships",
        sa.Column("user_id", Name, primary_key=True),
        sa.Column("group_id", Id, primary_key=True),
        sa.Column("joined_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tasquencer_auth_memberships_group", "tasquencer_auth_memberships", ["group_id"]
    )
    op.create_table(
        "tasquencer_auth_group_roles",
        sa.Column("group_id", Id, primary_key=True),
        sa.Column("role_id", Id, primary_key=True),
        sa.Column("assigned_at", Timestamp, nullable=False),
        sa.Column("assigned_by", Name),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tasquencer_auth_group_roles_role", "tasquencer_auth_group_roles", ["role_id"]
    )
    op.create_table(
        "tasquencer_auth_user_roles",
        sa.Column("user_id", Name, primary_key=True),
        sa.Column("role_id", Id, primary_key=True),
        sa.Column("assigned_at", Timestamp, nullable=False),
        sa.Column("assigned_by", Name),
        sa.Column("expires_at", Timestamp),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_tasquencer_auth_user_roles_role", "tasquencer_auth_user_roles", ["role_id"])
    op.create_table(
        "tasquencer_work_item_offers",
        sa.Column("work_item_id", Id, primary_key=True),
        sa.Column("work_item_name", Name, nullable=False),
        sa.Column("workflow_id", Id, nullable=False),
        sa.Column("root_workflow_id", Id, nullable=False),
        sa.Column("workflow_name", Name, nullable=False),
        sa.Column("task_name", Name, nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("offer_kind", State, nullable=False),
        sa.Column("offer_target", Name, nullable=False),
        sa.Column("title", sa.String(500)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("due_at", Timestamp, nullable=False),
        sa.Column("payload", JSON),
        sa.Column("claimed_by", Name),
        sa.Column("claimed_at", Timestamp),
        sa.Column("offered_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tasquencer_work_item_offers_audience",
        "tasquencer_work_item_offers",
        [
            "offer_kind",
            "offer_target",
            "is_open",
            "claimed_by",
            sa.text("priority DESC"),
            "due_at",
        ],
    )
    op.create_index(
        "ix_tasquencer_work_item_offers_claimed",
        "tasquencer_work_item_offers",
        ["claimed_by", "is_open"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tasquencer_offer_follows_work_item ON tasquencer_work_items")
        op.execute("DROP FUNCTION tasquencer_offer_follows_work_item()")
    else:
        op.execute("DROP TRIGGER tasquencer_offer_follows_work_item")
    for table in (
        "tasquencer_work_item_offers",
        "tasquencer_auth_user_roles",
        "tasquencer_auth_group_roles",
        "tasquencer_auth_memberships",
        "tasquencer_auth_roles",
        "tasquencer_auth_groups",
    ):
        op.drop_table(table)
    with op.batch_alter_table("tasquencer_work_items") as batch:
        batch.drop_column("is_offered")
