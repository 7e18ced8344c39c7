"""The `ctx` of registered mutations and queries, and how any ctx leads to its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tasquencer.runtime.transaction import Transaction

if TYPE_CHECKING:
    from tasquencer.runtime.scheduler import Scheduler
    from tasquencer.runtime.transaction import EngineSession


class QueryContext:
    """`ctx` of a registered query: read-only access to the database."""

    __slots__ = ("_tx", "is_internal")

    def __init__(self, tx: Transaction, is_internal: bool = True) -> None:
        self._tx = tx
        self.is_internal = is_internal

    @property
    def db(self) -> EngineSession:
        return self._tx.session

    def now(self) -> datetime:
        return self._tx.now()


class MutationContext(QueryContext):
    """`ctx` of a registered mutation: one transaction, with the scheduler."""

    __slots__ = ()

    @property
    def scheduler(self) -> Scheduler:
        return self._tx.scheduler


def transaction_of(ctx: Any, *, writable: bool) -> Transaction:
    """The transaction a ctx belongs to, for API calls made with `ctx=ctx`."""
    tx = getattr(ctx, "_tx", None)
    if tx is None:
        execution = getattr(ctx, "_ex", None)
        tx = getattr(execution, "services", None)
    if not isinstance(tx, Transaction):
        raise TypeError(
            "ctx= must be the ctx of a mutation, an activity, an action callback, a policy or "
            f"a router, got {type(ctx).__name__}"
        )
    if writable and tx.read_only:
        raise TypeError("this API call changes state; it cannot run inside a query's ctx")
    return tx
