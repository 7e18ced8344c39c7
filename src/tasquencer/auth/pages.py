"""One page of a work queue: its SQL, compiled once per shape, and its rows as `QueueItem`s.

A page is one query. Each audience (a scope, a group, the user, the agents; or a claimant) is a
branch of a UNION ALL ordered and limited as a whole; each branch reads its range of an index
in the queues' order (priority, highest first; due date, none last; work item id), so SQLite
merges the branches and stops after a page (MERGE (UNION ALL)), however many work items the
audiences hold; PostgreSQL merges them (Merge Append) or sorts the candidates the index gives,
as its planner costs them. Only the page's rows are then read in full.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer import arguments
from tasquencer.engine.offers import NO_DUE_DATE
from tasquencer.errors import WorkItemNotFoundError, describe
from tasquencer.records import QueueItem
from tasquencer.store.sql import Db, Dialect, Row, Statement
from tasquencer.store.tables import MAX_NAME_LENGTH, work_items
from tasquencer.store.tables import work_item_offers as offers

MAX_PAGE = 1000
# SQLite takes at most 500 branches in one compound query: more audiences (a user's scopes and
# groups) are read in several queries whose pages are merged.
MAX_BRANCHES = 100
# (offer kind, target): ("scope", "er:triage:write"), ("group", group id), ("user", id),
# ("agent", "").
Audience = tuple[str, str]
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
SELECT_ONE = Statement(
    sa.select(*COLUMNS)
    .join_from(offers, work_items, work_items.c.id == offers.c.work_item_id)
    .where(offers.c.work_item_id == p("id"))
)
SELECT_POSITION = Statement(
    sa.select(offers.c.priority, offers.c.due_at).where(offers.c.work_item_id == p("id"))
)


class Shape(NamedTuple):
    """Which filters a page has: the statement differs, the values are parameters."""

    workflow_name: bool
    task_name: bool
    min_priority: bool
    due_before: bool
    after: bool


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
        if due_before is not None:
            # No due date is stored as NO_DUE_DATE: a later bound must not list those.
            due_before = min(arguments.moment(due_before, "due_before"), NO_DUE_DATE)
        self.due_before = due_before
        self.limit = arguments.integer(limit, "limit", minimum=1, maximum=MAX_PAGE)
        self.after = arguments.optional_text(after, "after", maximum=64)

    @property
    def shape(self) -> Shape:
        return Shape(
            self.workflow_name is not None,
            self.task_name is not None,
            self.min_priority is not None,
            self.due_before is not None,
            self.after is not None,
        )

    def params(self, db: Db) -> dict[str, object]:
        d = db.dialect
        params: dict[str, object] = {
            "workflow_name": self.workflow_name,
            "task_name": self.task_name,
            "min_priority": self.min_priority,
            "due_before": d.time_in(self.due_before),
            "page_limit": self.limit,
        }
        if self.after is not None:
            found = db.one(SELECT_POSITION, {"id": self.after})
            if found is None:
                raise WorkItemNotFoundError(
                    f"after= names {describe(self.after)}, which was never offered"
                )
            params.update(after_priority=found[0], after_due=found[1], after_id=self.after)
        return params


def page(
    db: Db,
    filters: Filters,
    audiences: Sequence[Audience] = (),
    *,
    claimant: str | None = None,
    unclaimed: bool,
) -> list[QueueItem]:
    """The open work items offered to any of `audiences` (or held by `claimant`), one page."""
    params = filters.params(db)
    if claimant is not None:
        statement = _statement(0, True, unclaimed, filters.shape)
        return _items(db.dialect, db.all(statement, {**params, "claimant": claimant}))
    chunks = [audiences[i : i + MAX_BRANCHES] for i in range(0, len(audiences), MAX_BRANCHES)]
    found: list[list[QueueItem]] = []
    for chunk in chunks:
        statement = _statement(len(chunk), False, unclaimed, filters.shape)
        targets = {f"kind_{i}": kind for i, (kind, _) in enumerate(chunk)}
        targets.update({f"target_{i}": target for i, (_, target) in enumerate(chunk)})
        found.append(_items(db.dialect, db.all(statement, {**params, **targets})))
    if len(found) == 1:
        return found[0]
    return list(heapq.merge(*found, key=order_key))[: filters.limit]


def one(db: Db, work_item_id: str) -> QueueItem | None:
    row = db.one(SELECT_ONE, {"id": work_item_id})
    return None if row is None else item(db.dialect, row)


def order_key(entry: QueueItem) -> tuple[int, datetime, str]:
    return (-entry.priority, entry.due_at or NO_DUE_DATE, entry.work_item_id)


@lru_cache(maxsize=1024)
def _statement(branches: int, by_claimant: bool, unclaimed: bool, shape: Shape) -> Statement:
    shared: list[sa.ColumnElement[bool]] = [offers.c.is_open.is_(sa.true())]
    if unclaimed:
        shared.append(offers.c.claimed_by.is_(None))
    if shape.workflow_name:
        shared.append(offers.c.workflow_name == p("workflow_name"))
    if shape.task_name:
        shared.append(offers.c.task_name == p("task_name"))
    if shape.min_priority:
        shared.append(offers.c.priority >= p("min_priority"))
    if shape.due_before:
        shared.append(offers.c.due_at < p("due_before"))
    if shape.after:
        shared.append(_after())
    if by_claimant:
        audiences = [offers.c.claimed_by == p("claimant")]
    else:
        audiences = [
            sa.and_(
                offers.c.offer_kind == p(f"kind_{i}"), offers.c.offer_target == p(f"target_{i}")
            )
            for i in range(branches)
        ]
    selects = [
        sa.select(offers.c.work_item_id, offers.c.priority, offers.c.due_at).where(
            audience, *shared
        )
        for audience in audiences
    ]
    ordered = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    found = (
        ordered.order_by(
            sa.literal_column("priority").desc(),
            sa.literal_column("due_at"),
            sa.literal_column("work_item_id"),
        )
        .limit(p("page_limit", type_=sa.Integer))
        .subquery("page")
    )
    return Statement(
        sa.select(*COLUMNS)
        .select_from(
            found.join(offers, offers.c.work_item_id == found.c.work_item_id).join(
                work_items, work_items.c.id == found.c.work_item_id
            )
        )
        .order_by(found.c.priority.desc(), found.c.due_at, found.c.work_item_id)
    )


def _after() -> sa.ColumnElement[bool]:
    """Keyset pagination: the rows after the given one in the queues' order."""
    return sa.or_(
        offers.c.priority < p("after_priority"),
        sa.and_(
            offers.c.priority == p("after_priority"),
            sa.or_(
                offers.c.due_at > p("after_due"),
                sa.and_(offers.c.due_at == p("after_due"), offers.c.work_item_id > p("after_id")),
            ),
        ),
    )


def _items(d: Dialect, rows: list[Row]) -> list[QueueItem]:
    return [item(d, row) for row in rows]


def item(d: Dialect, row: Row) -> QueueItem:
    due_at = _utc(d.time_out(row[11]))
    return QueueItem(
        work_item_id=row[0],
        work_item_name=row[1],
        workflow_id=row[2],
        root_workflow_id=row[3],
        workflow_name=row[4],
        task_name=row[5],
        state=row[6],
        offer_kind=row[7],
        offer_target=row[8],
        title=row[9],
        priority=row[10],
        due_at=None if due_at == NO_DUE_DATE else due_at,
        payload=d.json_out(row[12]),
        claimed_by=row[13],
        claimed_at=_utc(d.time_out(row[14])),
        offered_at=_utc(d.time_out(row[15])),  # type: ignore[arg-type]
    )


def _utc(value: datetime | None) -> datetime | None:
    """SQLite's times read back in UTC already; PostgreSQL's in the session's zone."""
    return None if value is None else value.astimezone(UTC)
