"""`app.queues`: the work offered to people and agents, across every workflow, and claims.

Each queue is one SQL query on `tasquencer_work_item_offers` through its indexes; only open
work items (initialized, started) appear. Results are ordered by priority (highest first),
then due date (none last), then work item id, and paginated by keyset: pass the last item's
`work_item_id` as `after=` for the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from tasquencer import arguments
from tasquencer.auth.claims import Claim, claim_of, release, take
from tasquencer.auth.resolution import access_of
from tasquencer.contexts import User
from tasquencer.engine.offers import NO_DUE_DATE, SELECT_GROUP_ID
from tasquencer.errors import (
    AuthenticationRequiredError,
    GroupNotFoundError,
    WorkItemNotFoundError,
    describe,
)
from tasquencer.records import QueueItem
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.tables import MAX_NAME_LENGTH, work_items
from tasquencer.store.tables import work_item_offers as offers

T = TypeVar("T")
MAX_PAGE = 1000
ORDER = (offers.c.priority.desc(), offers.c.due_at, offers.c.work_item_id)
COLUMNS = (
    offers.c.work_item_id,
    offers.c.work_item_name,
    offers.c.workflow_id,
    offers.c.root_workflow_id,
    offers.c.workflow_name,
    offers.c.task_name,
    work_items.c.state,
    offers.c.offer_kind,
    offers.c.offer_target,
    offers.c.title,
    offers.c.priority,
    offers.c.due_at,
    offers.c.payload,
    offers.c.claimed_by,
    offers.c.claimed_at,
    offers.c.offered_at,
)


class Filters:
    """What every queue can be narrowed by, checked before any SQL runs."""

    __slots__ = ("after", "due_before", "limit", "min_priority", "task_name", "workflow_name")

    def __init__(
        self,
        workflow_name: str | None,
        task_name: str | None,
        min_priority: int | None,
        due_before: datetime | None,
        limit: int,
        after: str | None,
    ) -> None:
        self.workflow_name = arguments.optional_text(
            workflow_name, "workflow_name", maximum=MAX_NAME_LENGTH
        )
        self.task_name = arguments.optional_text(task_name, "task_name", maximum=MAX_NAME_LENGTH)
        if min_priority is not None:
            arguments.integer(min_priority, "min_priority", minimum=-(2**31), maximum=2**31)
        self.min_priority = min_priority
        if due_before is not None and (
            not isinstance(due_before, datetime) or due_before.tzinfo is None
        ):
            raise ValueError(
                f"due_before must be a timezone-aware datetime, got {describe(due_before)}"
            )
        self.due_before = due_before
        self.limit = arguments.integer(limit, "limit", minimum=1, maximum=MAX_PAGE)
        self.after = arguments.optional_text(after, "after", maximum=64)

    def conditions(self, tx: Transaction) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        if self.workflow_name is not None:
            found.append(offers.c.workflow_name == self.workflow_name)
        if self.task_name is not None:
            found.append(offers.c.task_name == self.task_name)
        if self.min_priority is not None:
            found.append(offers.c.priority >= self.min_priority)
        if self.due_before is not None:
            found.append(offers.c.due_at < _utc(self.due_before))
        if self.after is not None:
            found.append(_after(tx, self.after))
        return found


class WorkQueues:
    """`app.queues`: what is offered to whom, who holds what, and claiming."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def available_for(
        self,
        user: object,
        *,
        workflow_name: str | None = None,
        task_name: str | None = None,
        min_priority: int | None = None,
        due_before: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> list[QueueItem]:
        """Open, unclaimed work items offered to the user: to a scope they hold, an active
        group they are an unexpired member of, or to them."""
        who = self._user(user)
        filters = Filters(workflow_name, task_name, min_priority, due_before, limit, after)

        def read(tx: Transaction) -> list[QueueItem]:
            access = access_of(tx.db, who.id, tx.now())
            audience = [sa.and_(offers.c.offer_kind == "user", offers.c.offer_target == who.id)]
            if access.scopes:
                audience.append(
                    sa.and_(
                        offers.c.offer_kind == "scope",
                        offers.c.offer_target.in_(sorted(access.scopes)),
                    )
                )
            if access.groups:
                audience.append(
                    sa.and_(
                        offers.c.offer_kind == "group",
                        offers.c.offer_target.in_(sorted(access.groups.values())),
                    )
                )
            return _page(tx, filters, audience, unclaimed=True)

        return self._read(read)

    def claimed_by(
        self,
        user: object,
        *,
        workflow_name: str | None = None,
        task_name: str | None = None,
        min_priority: int | None = None,
        due_before: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> list[QueueItem]:
        """Open work items the user has claimed."""
        who = self._user(user)
        filters = Filters(workflow_name, task_name, min_priority, due_before, limit, after)
        return self._read(
            lambda tx: _page(tx, filters, [offers.c.claimed_by == who.id], unclaimed=False)
        )

    def for_group(
        self,
        group: str,
        *,
        workflow_name: str | None = None,
        task_name: str | None = None,
        min_priority: int | None = None,
        due_before: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
        include_claimed: bool = True,
    ) -> list[QueueItem]:
        """Open work items offered to a group (a supervisor's view): claimed ones too unless
        `include_claimed=False`."""
        arguments.text(group, "group", maximum=MAX_NAME_LENGTH)
        filters = Filters(workflow_name, task_name, min_priority, due_before, limit, after)

        def read(tx: Transaction) -> list[QueueItem]:
            found = tx.db.one(SELECT_GROUP_ID, {"name": group})
            if found is None:
                raise GroupNotFoundError(f"there is no group named {describe(group)}")
            audience = sa.and_(offers.c.offer_kind == "group", offers.c.offer_target == found[0])
            return _page(tx, filters, [audience], unclaimed=not include_claimed)

        return self._read(read)

    def available_for_agents(
        self,
        *,
        workflow_name: str | None = None,
        task_name: str | None = None,
        min_priority: int | None = None,
        due_before: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> list[QueueItem]:
        """Open, unclaimed work items offered to agents."""
        filters = Filters(workflow_name, task_name, min_priority, due_before, limit, after)
        audience = sa.and_(offers.c.offer_kind == "agent", offers.c.offer_target == "")
        return self._read(lambda tx: _page(tx, filters, [audience], unclaimed=True))

    def get(self, work_item_id: str) -> QueueItem | None:
        """A work item's queue entry, whatever its state (None: it was never offered)."""
        arguments.string(work_item_id, "work_item_id")

        def read(tx: Transaction) -> QueueItem | None:
            row = tx.connection.execute(
                _rows().where(offers.c.work_item_id == work_item_id)
            ).first()
            return None if row is None else _item(row)

        return self._read(read)

    def claim(self, work_item_id: str, *, user: object) -> QueueItem:
        """Claim an open work item offered to the user (scope, group or user offer; an
        agent offer for an agent): nobody else can act on it until it is released."""
        who = self._user(user)
        arguments.string(work_item_id, "work_item_id")

        def claim(tx: Transaction) -> QueueItem:
            current = _offered(tx, work_item_id)
            take(tx.db, tx.now(), current, who, access_of(tx.db, who.id, tx.now()))
            return _fresh(tx, work_item_id)

        return self._runtime.runner.run(claim, trees=[("work_item", work_item_id)])

    def release(self, work_item_id: str, *, user: object = None) -> QueueItem:
        """Give a claim up, back to the queue: `user` must hold it (no user: server code
        releasing whoever holds it)."""
        who = self._runtime.users(user)
        arguments.string(work_item_id, "work_item_id")

        def give_up(tx: Transaction) -> QueueItem:
            release(tx.db, _offered(tx, work_item_id), who)
            return _fresh(tx, work_item_id)

        return self._runtime.runner.run(give_up, trees=[("work_item", work_item_id)])

    def _user(self, user: object) -> User:
        who = self._runtime.users(user)
        if who is None:
            raise AuthenticationRequiredError("a work queue is somebody's: pass user=...")
        return who

    def _read(self, body: Callable[[Transaction], T]) -> T:
        return self._runtime.runner.run(body, read_only=True)


def _page(
    tx: Transaction,
    filters: Filters,
    audiences: list[sa.ColumnElement[bool]],
    *,
    unclaimed: bool,
) -> list[QueueItem]:
    """One page of a queue: the open work items of any of `audiences`, in queue order.

    Each audience is its own branch of a UNION ALL that the audience index covers (audience,
    state, claim and the order's columns), so only the page's rows are read in full.
    """
    shared = [offers.c.is_open.is_(sa.true()), *filters.conditions(tx)]
    if unclaimed:
        shared.append(offers.c.claimed_by.is_(None))
    branches = [
        sa.select(offers.c.work_item_id, offers.c.priority, offers.c.due_at).where(
            audience, *shared
        )
        for audience in audiences
    ]
    found = (branches[0] if len(branches) == 1 else sa.union_all(*branches)).subquery()
    page = (
        sa.select(found.c.work_item_id)
        .order_by(found.c.priority.desc(), found.c.due_at, found.c.work_item_id)
        .limit(filters.limit)
    )
    query = _rows().where(offers.c.work_item_id.in_(page.scalar_subquery()))
    return [_item(row) for row in tx.connection.execute(query.order_by(*ORDER))]


def _rows() -> sa.Select[Any]:
    """Queue entries with their work item's state."""
    return sa.select(*COLUMNS).join_from(
        offers, work_items, work_items.c.id == offers.c.work_item_id
    )


def _after(tx: Transaction, work_item_id: str) -> sa.ColumnElement[bool]:
    """Keyset pagination: the rows after `work_item_id`'s in the queues' order."""
    row = tx.connection.execute(
        sa.select(offers.c.priority, offers.c.due_at).where(offers.c.work_item_id == work_item_id)
    ).first()
    if row is None:
        raise WorkItemNotFoundError(
            f"after= names {describe(work_item_id)}, which was never offered"
        )
    priority, due_at = row
    return sa.or_(
        offers.c.priority < priority,
        sa.and_(
            offers.c.priority == priority,
            sa.or_(
                offers.c.due_at > due_at,
                sa.and_(offers.c.due_at == due_at, offers.c.work_item_id > work_item_id),
            ),
        ),
    )


def _offered(tx: Transaction, work_item_id: str) -> Claim:
    current = claim_of(tx.db, work_item_id) if arguments.could_be_an_id(work_item_id) else None
    if current is None:
        raise WorkItemNotFoundError(f"there is no offered work item {describe(work_item_id)}")
    return current


def _fresh(tx: Transaction, work_item_id: str) -> QueueItem:
    row = tx.connection.execute(_rows().where(offers.c.work_item_id == work_item_id)).one()
    return _item(row)


def _item(row: Any) -> QueueItem:
    due_at = _aware(row.due_at)
    return QueueItem(
        work_item_id=row.work_item_id,
        work_item_name=row.work_item_name,
        workflow_id=row.workflow_id,
        root_workflow_id=row.root_workflow_id,
        workflow_name=row.workflow_name,
        task_name=row.task_name,
        state=row.state,
        offer_kind=row.offer_kind,
        offer_target=row.offer_target,
        title=row.title,
        priority=row.priority,
        due_at=None if due_at == NO_DUE_DATE else due_at,
        payload=row.payload,
        claimed_by=row.claimed_by,
        claimed_at=_aware(row.claimed_at),
        offered_at=_aware(row.offered_at),
    )


def _aware(value: datetime | None) -> Any:
    """A time read back, in UTC (SQLite gives naive UTC, PostgreSQL the session's zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
