"""Offers: a work item put in the work queues of a scope, a group, a user or the agents.

An offer is a row of `tasquencer_work_item_offers`, written in the call's transaction (so it
rolls back with it), and the work item is marked `is_offered`. A database trigger then follows
an offered work item: the statement that writes its final state, whichever path of the engine
wrote it, withdraws the offer from the queues (`is_open`), and a reset releases its claim.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import bindparam as p
from sqlalchemy.dialects import postgresql, sqlite

from tasquencer.engine.instances import WorkItemInstance
from tasquencer.errors import GroupNotFoundError, describe
from tasquencer.records import Offer
from tasquencer.store.sql import Statement
from tasquencer.store.tables import auth_groups, work_item_offers, work_items

OPEN_STATES = ("initialized", "started")
# Stored for an offer without a due date: it sorts after every real one.
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)

SELECT_GROUP_ID = Statement(sa.select(auth_groups.c.id).where(auth_groups.c.name == p("name")))
MARK_OFFERED = Statement(
    sa.update(work_items).where(work_items.c.id == p("id")).values(is_offered=sa.true())
)


def _upsert(insert: object) -> sa.Executable:
    statement = insert(work_item_offers).values(  # type: ignore[operator]
        {c.name: p(c.name) for c in work_item_offers.columns}
    )
    replaced = [c.name for c in work_item_offers.columns if c.name != "work_item_id"]
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["work_item_id"], set_={name: statement.excluded[name] for name in replaced}
    )


SAVE_OFFER = Statement({"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)})


def offer_work_item(item: WorkItemInstance, offer: Offer) -> None:
    """Put the work item in the queues `offer` names, replacing any earlier offer of it."""
    if not isinstance(offer, Offer):
        raise TypeError(
            f"work item {item.id}: offer() takes a tq.Offer (tq.Offer.to_scope(...), ...), "
            f"got {describe(offer)}"
        )
    ex = item.ex
    db = ex.uow.db
    target = offer.target
    if offer.kind == "group":
        found = db.one(SELECT_GROUP_ID, {"name": offer.target})
        if found is None:
            raise GroupNotFoundError(
                f"work item {item.row.name!r} ({item.id}) is offered to group "
                f"{describe(offer.target)}, which does not exist; create it with "
                "app.auth.create_group"
            )
        target = found[0]
    # The work item's row must be in the database first: from then on each write of its state
    # reaches the offer through the trigger (an INSERT would not).
    ex.uow.flush()
    d = db.dialect
    row = item.row
    workflow = item.task.workflow.row
    db.run(MARK_OFFERED, {"id": row.id})
    db.run(
        SAVE_OFFER,
        {
            "work_item_id": row.id,
            "work_item_name": row.name,
            "workflow_id": row.workflow_id,
            "root_workflow_id": row.root_workflow_id,
            "workflow_name": workflow.path[0],
            "task_name": row.task_name,
            "is_open": d.bool_in(row.state in OPEN_STATES),
            "offer_kind": offer.kind,
            "offer_target": target,
            "title": offer.title,
            "priority": offer.priority,
            "due_at": d.time_in(offer.due_at or NO_DUE_DATE),
            "payload": d.json_in(offer.payload),
            "claimed_by": None,
            "claimed_at": None,
            "offered_at": d.time_in(ex.now()),
        },
    )
