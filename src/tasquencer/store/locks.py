"""Advisory locks on workflow trees (PostgreSQL), keyed by the root workflow id."""

from __future__ import annotations

import sqlalchemy as sa

from tasquencer.store.sql import Statement

_KEY = "hashtextextended({}, 0)"

# Held until the transaction ends; never waits (false when another session holds the tree).
TRY_LOCK_TREE = Statement(sa.text(f"SELECT pg_try_advisory_xact_lock({_KEY.format(':root')})"))
TRY_LOCK_TREE_OF_WORK_ITEM = Statement(
    sa.text(
        "SELECT root_workflow_id, "
        f"pg_try_advisory_xact_lock({_KEY.format('root_workflow_id')}) "
        "FROM tasquencer_work_items WHERE id = :id"
    )
)
TRY_LOCK_TREE_OF_WORKFLOW = Statement(
    sa.text(
        "SELECT root_workflow_id, "
        f"pg_try_advisory_xact_lock({_KEY.format('root_workflow_id')}) "
        "FROM tasquencer_workflows WHERE id = :id"
    )
)
# Held by the session across its transaction; waits its turn.
LOCK_TREE = Statement(sa.text(f"SELECT pg_advisory_lock({_KEY.format(':root')})"))
UNLOCK_TREE = Statement(sa.text(f"SELECT pg_advisory_unlock({_KEY.format(':root')})"))
