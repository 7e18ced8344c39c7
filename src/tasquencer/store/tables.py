"""The engine's tables (SQLAlchemy Core), all prefixed `tasquencer_`.

Rows are per element, so one transition costs the same whatever the size of the database.
Alembic migrations in `store/migrations` create exactly this schema.

On PostgreSQL a call's reads are predicate-locked (SERIALIZABLE) at the granularity of index
pages and of rows, and a write into a page another call read is a conflict between the two,
even when they work on unrelated workflow trees. So that such calls do not meet:

- Rows updated by calls keep their indexed columns unchanged (a workflow's `state` is in no
  index), so the update is HOT: no new index entries, only the row itself, which no other
  tree reads. The tables whose rows calls update are filled
  to half a page by inserts (`fillfactor`, set by migration 0004), leaving the room a HOT
  update needs on the row's own page.
- The jobs tied to an element are listed on the element's own row (`job_ids`), read anyway,
  rather than in a table every teardown would have to search; a call cancels them by
  inserting into `job_cancels`, not by updating job rows that workers update too.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
Id = sa.String(32)
MAX_NAME_LENGTH = 200
Name = sa.String(MAX_NAME_LENGTH)
State = sa.String(16)

workflows = sa.Table(
    "tasquencer_workflows",
    metadata,
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
    sa.Column("job_ids", JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(
        "ix_tasquencer_workflows_parent",
        "parent_workflow_id",
        "parent_task_name",
        "parent_task_generation",
    ),
    sa.Index("ix_tasquencer_workflows_root", "root_workflow_id"),
    sa.Index("ix_tasquencer_workflows_name_version", "name", "version_name"),
    sqlite_with_rowid=False,
)

tasks = sa.Table(
    "tasquencer_tasks",
    metadata,
    sa.Column("workflow_id", Id, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("state", State, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("execution_mode", State, nullable=False),
    # The generation whose tied jobs `job_ids` are.
    sa.Column("jobs_generation", sa.Integer),
    sa.Column("job_ids", JSON),
    sqlite_with_rowid=False,
)

# A task passes through each state at most once per generation, so (task, generation, state)
# identifies a history entry.
task_log = sa.Table(
    "tasquencer_task_log",
    metadata,
    sa.Column("workflow_id", Id, primary_key=True),
    sa.Column("task_name", Name, primary_key=True),
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("state", State, primary_key=True),
    sa.Column("at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

conditions = sa.Table(
    "tasquencer_conditions",
    metadata,
    sa.Column("workflow_id", Id, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("marking", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

work_items = sa.Table(
    "tasquencer_work_items",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", Name, nullable=False),
    sa.Column("workflow_id", Id, nullable=False),
    sa.Column("root_workflow_id", Id, nullable=False),
    sa.Column("task_name", Name, nullable=False),
    sa.Column("task_generation", sa.Integer, nullable=False),
    sa.Column("state", State, nullable=False),
    sa.Column("job_ids", JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Set once the work item has an offer: only then does the offer trigger (migration 0005)
    # look for one when the work item finishes.
    sa.Column("is_offered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_tasquencer_work_items_task", "workflow_id", "task_name", "task_generation"),
    sqlite_with_rowid=False,
)

task_stats = sa.Table(
    "tasquencer_task_stats",
    metadata,
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

jobs = sa.Table(
    "tasquencer_jobs",
    metadata,
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
    sa.Index("ix_tasquencer_jobs_due", "state", "run_at"),
    sqlite_with_rowid=False,
)

# The jobs a call canceled (the teardown of the elements they were tied to) on PostgreSQL. The
# call only inserts here: updating the job row would conflict (SERIALIZABLE) with the workers
# that claim and settle jobs meanwhile. Once the call has committed, the cancellation is applied
# to the job if it is still pending, and the row deleted; a worker that finds the job due first
# applies it instead. Until then readers see the job canceled (`store.jobs.job_state`).
job_cancels = sa.Table(
    "tasquencer_job_cancels",
    metadata,
    sa.Column("job_id", Id, primary_key=True),
    sa.Column("canceled_at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

# One row per scheduled mutation applied, written in the mutation's own transaction: a second
# application of the same job (by a worker that lost its lease but still commits) is refused by
# the primary key. Rows live as long as their job: only `App.prune_jobs` deletes them, for jobs
# that finished long before.
job_runs = sa.Table(
    "tasquencer_job_runs",
    metadata,
    sa.Column("job_id", Id, primary_key=True),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("committed_at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

# One row per registered (workflow, version): the fingerprint of its structure, so that two apps
# cannot run different definitions under one name and version on the same database.
versions = sa.Table(
    "tasquencer_versions",
    metadata,
    sa.Column("workflow_name", Name, primary_key=True),
    sa.Column("version_name", Name, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("shape", JSON, nullable=False),
    sa.Column("registered_at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

# One row per migrated instance: the new root instance and the one it replaced.
migrations = sa.Table(
    "tasquencer_migrations",
    metadata,
    sa.Column("to_workflow_id", Id, primary_key=True),
    sa.Column("from_workflow_id", Id, nullable=False),
    sa.Column("workflow_name", Name, nullable=False),
    sa.Column("from_version", Name, nullable=False),
    sa.Column("to_version", Name, nullable=False),
    sa.Column("migrated_at", Timestamp, nullable=False),
    sa.Index("ix_tasquencer_migrations_from", "from_workflow_id"),
    sqlite_with_rowid=False,
)


# --- authorization: groups, roles, who belongs to or holds what ------------------------------

auth_groups = sa.Table(
    "tasquencer_auth_groups",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", Name, nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("metadata", JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

auth_roles = sa.Table(
    "tasquencer_auth_roles",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", Name, nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("scopes", JSON, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("metadata", JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sqlite_with_rowid=False,
)

auth_memberships = sa.Table(
    "tasquencer_auth_memberships",
    metadata,
    sa.Column("user_id", Name, primary_key=True),
    sa.Column("group_id", Id, primary_key=True),
    sa.Column("joined_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp),
    sa.Index("ix_tasquencer_auth_memberships_group", "group_id"),
    sqlite_with_rowid=False,
)

auth_group_roles = sa.Table(
    "tasquencer_auth_group_roles",
    metadata,
    sa.Column("group_id", Id, primary_key=True),
    sa.Column("role_id", Id, primary_key=True),
    sa.Column("assigned_at", Timestamp, nullable=False),
    sa.Column("assigned_by", Name),
    sa.Index("ix_tasquencer_auth_group_roles_role", "role_id"),
    sqlite_with_rowid=False,
)

auth_user_roles = sa.Table(
    "tasquencer_auth_user_roles",
    metadata,
    sa.Column("user_id", Name, primary_key=True),
    sa.Column("role_id", Id, primary_key=True),
    sa.Column("assigned_at", Timestamp, nullable=False),
    sa.Column("assigned_by", Name),
    sa.Column("expires_at", Timestamp),
    sa.Index("ix_tasquencer_auth_user_roles_role", "role_id"),
    sqlite_with_rowid=False,
)

# --- work queues: one row per offered work item ----------------------------------------------

# `is_open`: the work item is initialized or started. A database trigger (migration 0005) clears
# it in the statement that writes a final state of the work item, whichever path of the engine
# wrote it, and releases the claim when the work item is reset; the work item's own state stays
# in tasquencer_work_items. `due_at` has no NULL: no due date is stored as NO_DUE_DATE, so it
# sorts last in the index's order.
work_item_offers = sa.Table(
    "tasquencer_work_item_offers",
    metadata,
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
    sa.Index("ix_tasquencer_work_item_offers_claimed", "claimed_by", "is_open"),
    sqlite_with_rowid=False,
)
# Covers the queues: who it is offered to, open, (un)claimed, then in the queues' order, so a page
# of one audience is read from the top of its index range.
sa.Index(
    "ix_tasquencer_work_item_offers_audience",
    work_item_offers.c.offer_kind,
    work_item_offers.c.offer_target,
    work_item_offers.c.is_open,
    work_item_offers.c.claimed_by,
    work_item_offers.c.priority.desc(),
    work_item_offers.c.due_at,
)


# --- the audit trail: one trace per root workflow tree, its spans, checkpoints of its state ---

# One row per root workflow tree: what it is and whether it ended (for `App.prune_audit`),
# written when the root is created and when it changes state. On PostgreSQL `next_seq` numbers
# the trace's spans (each call takes its numbers by updating it); SQLite numbers them from the
# spans' own key instead (see `audit.recorder.AuditRecorder._insert`). The key is the
# trace id reversed: ids begin with their time, so keyed by the id the rows of all recent
# trees would share the key's last pages, and on PostgreSQL every call updating its row (and
# so predicate-locking its page) would conflict with the calls inserting new trees there.
audit_traces = sa.Table(
    "tasquencer_audit_traces",
    metadata,
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

# The spans one call recorded in one trace, in one row: spans `seq` to `seq + count - 1`,
# numbered after the trace's last row (so they increase across transactions). `spans` is a
# JSON list of short lists (see `tasquencer.audit.replay.unpacked`). One row per call rather
# than per span: inserting a dozen rows cost the call as much as the rest of the audit trail.
audit_spans = sa.Table(
    "tasquencer_audit_spans",
    metadata,
    sa.Column("trace_id", Id, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("spans", JSON, nullable=False),
    sqlite_with_rowid=False,
)

# The whole tree's state after span `seq`, written every so many spans, so that reconstructing
# a past state replays only the spans since the checkpoint before it.
audit_checkpoints = sa.Table(
    "tasquencer_audit_checkpoints",
    metadata,
    sa.Column("trace_id", Id, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("state", JSON, nullable=False),
    sqlite_with_rowid=False,
)
