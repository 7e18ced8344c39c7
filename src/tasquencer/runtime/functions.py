"""The `ctx` of registered mutations and queries, and how any ctx leads to its transaction."""

from __future__ import annotations

from tasquencer.contexts import INTERNAL, Caller
from tasquencer.engine.contexts import BoundContext
from tasquencer.errors import TransactionClosedError
from tasquencer.runtime.scheduler import Scheduler
from tasquencer.runtime.transaction import Transaction


class QueryCtx(BoundContext):
    """`ctx` of a registered query: read-only access to the database."""

    __slots__ = ()

    def __init__(self, tx: Transaction, caller: Caller = INTERNAL) -> None:
        super().__init__(tx, caller)

    @property
    def transaction(self) -> Transaction:
        tx = self.services
        assert isinstance(tx, Transaction)
        return tx


class MutationCtx(QueryCtx):
    """`ctx` of a registered mutation: one transaction, with the scheduler."""

    __slots__ = ()

    @property
    def scheduler(self) -> Scheduler:
        return self.transaction.scheduler


def transaction_of(ctx: object, *, writable: bool, call: str) -> Transaction:
    """The transaction a ctx belongs to, for `call` made with `ctx=ctx`."""
    tx = ctx.services if isinstance(ctx, BoundContext) else None
    if not isinstance(tx, Transaction):
        raise TypeError(
            f"{call}: ctx= must be the ctx of a mutation, an activity, an action callback, a "
            f"policy or a router, got {type(ctx).__name__}"
        )
    if tx.closed:
        raise TransactionClosedError(
            f"{call} was given the ctx of a call that has already ended (its transaction is "
            "committed or rolled back); a ctx is valid only while its own call runs. Call it "
            "without ctx= to run it in a transaction of its own"
        )
    if writable and tx.read_only:
        raise TypeError(f"{call} changes state; it cannot run inside a query's ctx")
    return tx


def caller_of(ctx: object) -> Caller:
    """Who the call `ctx` belongs to is made by."""
    return ctx.caller if isinstance(ctx, BoundContext) else INTERNAL
