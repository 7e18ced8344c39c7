"""Running calls in transactions: isolation, locking of workflow trees, retries on conflict.

SQLite: a writer begins `IMMEDIATE`, so writers queue on the database lock; a call is retried
only if the lock could not be had within the busy timeout.

PostgreSQL: every mutation runs `SERIALIZABLE`, so whatever it reads and writes (the engine's
rows, the user's tables through `ctx.db`, jobs) behaves as if calls ran one at a time; a call
that loses a conflict (serialization failure, deadlock) is rolled back and run again, a bounded
number of times with jittered backoff. Because calls may be re-run, a mutation must be
deterministic: no I/O, no reading the system clock (use `ctx.now()`), nothing kept outside the
database between attempts. Jobs it schedules are rows of the same transaction, so a retried
call never schedules twice.

So that calls on one workflow tree rarely conflict, they queue on the tree's root: before its
transaction begins, a call takes a session-level advisory lock keyed by the root workflow id of
every tree it is known to touch (the target of an API call; on a retry, every tree the failed
attempt touched), in a fixed order. The lock is taken before `BEGIN` on purpose: the
transaction's snapshot then includes everything the previous holder committed, whereas a row
lock taken inside a `SERIALIZABLE` transaction would leave the waiter with a stale snapshot and
doom it to a retry.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

from tasquencer.errors import TransactionAbortedError
from tasquencer.runtime.transaction import Transaction

if TYPE_CHECKING:
    from tasquencer.runtime.app import App

T = TypeVar("T")
RootsHint = Callable[[sa.Connection], Iterable[str]]

MAX_ATTEMPTS = 12
_CONFLICT_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def is_conflict(error: BaseException) -> bool:
    """Whether an error means "lost a race with another call; run it again"."""
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "sqlstate", None) in _CONFLICT_STATES:
            return True
        if isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


class Runner:
    def __init__(self, app: App) -> None:
        self.app = app
        self.postgres = app.dialect.name == "postgresql"

    def run(
        self,
        body: Callable[[Transaction], T],
        *,
        read_only: bool = False,
        roots: RootsHint | None = None,
    ) -> T:
        """Run `body` in a transaction, again from the start if it loses a conflict."""
        touched: set[str] = set()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current: list[Transaction] = []
            try:
                with self.transaction(read_only=read_only, roots=roots, also=touched) as tx:
                    current.append(tx)
                    return body(tx)
            except Exception as error:
                if not is_conflict(error) or attempt == MAX_ATTEMPTS:
                    raise
                if current:
                    touched |= current[0].uow.roots
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(
        self,
        *,
        read_only: bool = False,
        isolation: str | None = None,
        roots: RootsHint | None = None,
        also: Iterable[str] = (),
    ) -> Iterator[Transaction]:
        """One attempt: committed if the block returns, rolled back if it raises."""
        app = self.app
        with app.engine.connect() as connection:
            locks: list[str] = []
            try:
                if self.postgres:
                    if not read_only:
                        self._lock_trees(connection, roots, also, locks)
                    connection.execution_options(
                        isolation_level=isolation
                        or ("REPEATABLE READ" if read_only else "SERIALIZABLE"),
                        postgresql_readonly=read_only,
                    )
                else:
                    connection.info["tasquencer_read_only"] = read_only
                with connection.begin() as outer:
                    tx = Transaction(app, connection, read_only=read_only)
                    try:
                        yield tx
                        if not outer.is_active:
                            raise TransactionAbortedError()
                        if read_only:
                            outer.rollback()
                        else:
                            tx.flush()
                    finally:
                        tx.close()
            finally:
                connection.info.pop("tasquencer_read_only", None)
                if locks:
                    self._unlock_trees(connection, locks)
        if tx.scheduled_jobs:
            app._job_signal.set()

    def _lock_trees(
        self,
        connection: sa.Connection,
        roots: RootsHint | None,
        also: Iterable[str],
        locks: list[str],
    ) -> None:
        """Take the tree locks in a fixed order (no deadlock), noting each in `locks`."""
        connection.execution_options(isolation_level="AUTOCOMMIT")
        wanted = set(also)
        if roots is not None:
            wanted.update(roots(connection))
        for root in sorted(wanted):
            connection.exec_driver_sql(
                "SELECT pg_advisory_lock(hashtextextended(%(root)s, 0))", {"root": root}
            )
            locks.append(root)
        connection.commit()  # ends SQLAlchemy's autobegun (autocommit) transaction

    def _unlock_trees(self, connection: sa.Connection, roots: list[str]) -> None:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        for root in roots:
            connection.exec_driver_sql(
                "SELECT pg_advisory_unlock(hashtextextended(%(root)s, 0))", {"root": root}
            )
        connection.commit()
