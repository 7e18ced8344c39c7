"""The `ctx` of registered mutations and queries, and how any ctx leads to its transaction."""

from __future__ import annotations

from tasquencer.contexts import INTERNAL, Caller
from tasquencer.engine.contexts import BoundContext
from tasquencer.runtime.scheduler import Scheduler
from tasquencer.runtime.transaction import Transaction


class QueryCtx(BoundContext):
    """`ctx` of a registered query: read-only access to the database."""

    __slots__ = ()

    def __init__(self, tx: Transaction, caller: Caller = INTERNAL) -> None:
        super().__init__(tx, caller)


class MutationCtx(QueryCtx):
    """`ctx` of a registered mutation: one transaction, with the scheduler."""

    __slots__ = ()

    @property
    def scheduler(self) -> Scheduler:
        return self.transaction.scheduler

    @property
    def transaction(self) -> Transaction:
        tx = self.services
        assert isinstance(tx, Transaction)
        return tx


def transaction_of(ctx: object, *, writable: bool) -> Transaction:
    """The transaction a ctx belongs to, for API calls made with `ctx=ctx`."""
    tx = ctx.services if isinstance(ctx, BoundContext) else None
    if not isinstance(tx, Transaction):
        raise TypeError(
            "ctx= must be the ctx of a mutation, an activity, an action callback, a policy or "
            f"a router, got {type(ctx).__name__}"
        )
    if writable and tx.read_only:
        raise TypeError("this API call changes state; it cannot run inside a query's ctx")
    return tx


def caller_of(ctx: object) -> Caller:
    """Who the call `ctx` belongs to is made by."""
    return ctx.caller if isinstance(ctx, BoundContext) else INTERNAL
