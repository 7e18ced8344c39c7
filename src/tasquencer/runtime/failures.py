"""Which database errors mean "run the call again": lost races and lost connections."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from tasquencer.errors import ConflictRetriesExhaustedError
from tasquencer.runtime.treelocks import TreeBusyError

_CONFLICT_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
# Server shutting down (admin, crash) or not accepting connections yet.
_DISCONNECT_STATES = frozenset({"57P01", "57P02", "57P03"})


def is_conflict(error: BaseException) -> bool:
    """Whether an error means "lost a race with another call; run it again"."""
    for seen in _chain(error, implicit=False):
        if isinstance(seen, ConflictRetriesExhaustedError):
            return False  # another call, already run again as often as it may be
        if (
            isinstance(seen, TreeBusyError)
            or getattr(seen, "sqlstate", None) in _CONFLICT_STATES
            or (isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen))
        ):
            return True
    return False


def is_disconnect(error: BaseException) -> bool:
    """Whether an error means the connection to the database was lost."""
    for seen in _chain(error, implicit=True):
        if getattr(seen, "connection_invalidated", False):
            return True
        state = getattr(seen, "sqlstate", None) or ""
        if state in _DISCONNECT_STATES or state.startswith("08"):
            return True
    return False


def _chain(error: BaseException, *, implicit: bool) -> Iterator[BaseException]:
    """`error` and what it wraps: the driver's error under SQLAlchemy's, the explicit cause and,
    when `implicit`, the error being handled when it was raised (a failed rollback's cause)."""
    seen: BaseException | None = error
    visited: set[int] = set()  # a hand-made chain could loop
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        yield seen
        context = seen.__context__ if implicit and not seen.__suppress_context__ else None
        seen = getattr(seen, "orig", None) or seen.__cause__ or context
