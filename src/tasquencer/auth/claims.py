"""Claims: which user holds a work item, and whether a user may take or act on it.

A work item offered to a scope, a group or a user can be claimed by a user it is offered to,
one at a time; one offered to agents by an agent (`tq.User(..., is_agent=True)`). Once claimed,
external calls on it by anybody else are refused. Only open work items (initialized, started)
can be claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer.auth.resolution import Access
from tasquencer.contexts import User
from tasquencer.errors import WorkItemAlreadyClaimedError, WorkItemNotOfferedError
from tasquencer.store.sql import Db, Statement
from tasquencer.store.tables import work_item_offers as offers

SELECT_CLAIM = Statement(
    sa.select(
        offers.c.offer_kind, offers.c.offer_target, offers.c.claimed_by, offers.c.is_open
    ).where(offers.c.work_item_id == p("id"))
)
CLAIM = Statement(
    sa.update(offers)
    .where(
        offers.c.work_item_id == p("id"),
        offers.c.claimed_by.is_(None),
        offers.c.is_open.is_(sa.true()),
    )
    .values(claimed_by=p("user_id"), claimed_at=p("now"))
)
RELEASE = Statement(
    sa.update(offers)
    .where(offers.c.work_item_id == p("id"))
    .values(claimed_by=None, claimed_at=None)
)


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming needs to know of a work item's offer."""

    work_item_id: str
    kind: str
    target: str
    claimed_by: str | None
    is_open: bool


def claim_of(db: Db, work_item_id: str) -> Claim | None:
    """The work item's offer and claim (None: the work item is not offered)."""
    row = db.one(SELECT_CLAIM, {"id": work_item_id})
    return None if row is None else Claim(work_item_id, row[0], row[1], row[2], bool(row[3]))


def refuse_others(claim: Claim | None, user: User | None, action: str) -> None:
    """An external call on a work item someone else has claimed is refused."""
    if claim is None or claim.claimed_by is None:
        return
    if user is None or user.id != claim.claimed_by:
        raise WorkItemAlreadyClaimedError(
            claim.work_item_id,
            claim.claimed_by,
            f"work item {claim.work_item_id} is claimed by {claim.claimed_by!r}; only they may "
            f"{action} it (it was asked by {_who(user)})",
        )


def take(db: Db, now: datetime, claim: Claim | None, user: User, access: Access) -> None:
    """Claim a work item for `user`; already theirs is fine."""
    work_item_id = claim.work_item_id if claim else ""
    if claim is None:
        raise WorkItemNotOfferedError(
            work_item_id, None, "the work item is not offered to anyone, so it cannot be claimed"
        )
    if not claim.is_open:
        raise WorkItemNotOfferedError(
            work_item_id,
            claim.claimed_by,
            f"work item {work_item_id} is completed, failed or canceled; only initialized or "
            "started work items can be claimed",
        )
    if claim.claimed_by == user.id:
        return
    if claim.claimed_by is not None:
        raise WorkItemAlreadyClaimedError(
            work_item_id,
            claim.claimed_by,
            f"work item {work_item_id} is already claimed by {claim.claimed_by!r}",
        )
    refusal = _refusal(claim, user, access)
    if refusal:
        raise WorkItemNotOfferedError(
            work_item_id,
            None,
            f"work item {work_item_id} cannot be claimed by {_who(user)}: {refusal}",
        )
    params = {"id": work_item_id, "user_id": user.id, "now": db.dialect.time_in(now)}
    if db.run(CLAIM, params) != 1:
        raise WorkItemAlreadyClaimedError(
            work_item_id, None, f"work item {work_item_id} was claimed by someone else meanwhile"
        )


def release(db: Db, claim: Claim | None, user: User | None) -> None:
    """Give a claim up: `user` must hold it (None: server code releasing anyone's)."""
    if claim is None:
        raise WorkItemNotOfferedError("", None, "the work item is not offered, so nobody holds it")
    if claim.claimed_by is None:
        return
    if user is not None and user.id != claim.claimed_by:
        raise WorkItemAlreadyClaimedError(
            claim.work_item_id,
            claim.claimed_by,
            f"work item {claim.work_item_id} is claimed by {claim.claimed_by!r}; {_who(user)} "
            "cannot release it",
        )
    db.run(RELEASE, {"id": claim.work_item_id})


def _refusal(claim: Claim, user: User, access: Access) -> str:
    """Why the work item's offer does not reach `user` ("" when it does)."""
    if claim.kind == "agent":
        return "" if user.is_agent else "it is offered to agents"
    if claim.kind == "scope" and claim.target not in access.scopes:
        return f"it is offered to holders of scope {claim.target!r}"
    if claim.kind == "group" and claim.target not in access.groups.values():
        return "it is offered to a group they are not an active member of"
    if claim.kind == "user" and claim.target != user.id:
        return f"it is offered to user {claim.target!r}"
    return ""


def _who(user: User | None) -> str:
    return "nobody signed in" if user is None else f"user {user.id!r}"
