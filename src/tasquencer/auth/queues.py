"""`app.queues`: the work offered to people and agents, across every workflow, and claims.

Each queue page is one SQL query on `tasquencer_work_item_offers` through its indexes
(`auth/pages.py`); only open work items (initialized, started) appear. Results are ordered by
priority (highest first), then due date (none last), then work item id, and paginated by
keyset: pass the last item's `work_item_id` as `after=` for the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from tasquencer import arguments
from tasquencer.auth import pages
from tasquencer.auth.claims import Claim, claim_of, release, take
from tasquencer.auth.resolution import access_of
from tasquencer.contexts import User
from tasquencer.engine.offers import SELECT_GROUP_ID
from tasquencer.errors import (
    AuthenticationRequiredError,
    GroupNotFoundError,
    WorkItemNotFoundError,
    describe,
)
from tasquencer.records import QueueItem
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.tables import MAX_NAME_LENGTH

T = TypeVar("T")


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
        filters = pages.Filters(workflow_name, task_name, min_priority, due_before, limit, after)

        def read(tx: Transaction) -> list[QueueItem]:
            access = access_of(tx.db, who.id, tx.now())
            targets = [
                ("user", who.id),
                *(("scope", scope) for scope in sorted(access.scopes)),
                *(("group", group_id) for group_id in sorted(access.groups.values())),
            ]
            return pages.page(tx.db, filters, targets, unclaimed=True)

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
        filters = pages.Filters(workflow_name, task_name, min_priority, due_before, limit, after)
        return self._read(lambda tx: pages.page(tx.db, filters, claimant=who.id, unclaimed=False))

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
        filters = pages.Filters(workflow_name, task_name, min_priority, due_before, limit, after)

        def read(tx: Transaction) -> list[QueueItem]:
            found = tx.db.one(SELECT_GROUP_ID, {"name": group})
            if found is None:
                raise GroupNotFoundError(f"there is no group named {describe(group)}")
            audience = [("group", found[0])]
            return pages.page(tx.db, filters, audience, unclaimed=not include_claimed)

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
        filters = pages.Filters(workflow_name, task_name, min_priority, due_before, limit, after)
        return self._read(lambda tx: pages.page(tx.db, filters, [("agent", "")], unclaimed=True))

    def get(self, work_item_id: str) -> QueueItem | None:
        """A work item's queue entry, whatever its state (None: it was never offered)."""
        arguments.string(work_item_id, "work_item_id")

        if not arguments.could_be_an_id(work_item_id):
            return None
        return self._read(lambda tx: pages.one(tx.db, work_item_id))

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


def _offered(tx: Transaction, work_item_id: str) -> Claim:
    current = claim_of(tx.db, work_item_id) if arguments.could_be_an_id(work_item_id) else None
    if current is None:
        raise WorkItemNotFoundError(f"there is no offered work item {describe(work_item_id)}")
    return current


def _fresh(tx: Transaction, work_item_id: str) -> QueueItem:
    entry = pages.one(tx.db, work_item_id)
    assert entry is not None
    return entry
