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

So that calls on one workflow tree rarely conflict, they take turns on an advisory lock keyed
by the tree's root workflow id. A call first tries the lock of each tree as it comes to it (the
tree of an API call's target right after `BEGIN`), without waiting. If another call holds it,
this attempt stops at once and the call runs again queued for that tree: it waits for a
session-level lock taken *before* `BEGIN`, so its snapshot includes everything the previous
holder committed. (A lock waited for inside a `SERIALIZABLE` transaction would leave the
waiter with a stale snapshot and doom it to a conflict.) A call retried after a conflict also
queues for every tree the failed attempt touched. Queued locks are taken in a fixed order, and
tries never wait, so the locks cannot deadlock.

A call whose connection turns out to be dead (the server restarted since it was pooled) runs
again on a fresh one, unless the connection died while committing: then whether the call took
effect is unknown, and the error is raised.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa

from tasquencer.errors import ConfigurationError, NestedCallError, TransactionAbortedError
from tasquencer.runtime.core import Core
from tasquencer.runtime.failures import is_conflict, is_disconnect
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.treelocks import TreeBusyError, TreeHint
from tasquencer.store import database, locks

T = TypeVar("T")

MAX_ATTEMPTS = 12


_local = threading.local()


def _open_transactions() -> set[str]:
    """The databases this thread has a transaction open on, right now."""
    open_here: set[str] | None = getattr(_local, "open", None)
    if open_here is None:
        open_here = _local.open = set()
    return open_here


@contextmanager
def _schema_required() -> Iterator[None]:
    """Turn "no such table" on the engine's tables into an error saying what to do."""
    try:
        yield
    except Exception as error:
        if database.is_missing_schema(error):
            raise ConfigurationError(
                "the engine's tables are missing from this database: run "
                "`tasquencer db upgrade --url URL` (or open the app with auto_migrate=True, "
                "the default) first"
            ) from error
        raise


class Runner:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.postgres = core.dialect.name == "postgresql"
        self._database = core.engine.url.render_as_string(hide_password=True)
        self.closed = False

    def run(
        self,
        body: Callable[[Transaction], T],
        *,
        read_only: bool = False,
        trees: Iterable[TreeHint] = (),
    ) -> T:
        """Run `body` in a transaction, again from the start if it loses a conflict.

        `trees`: what the call is known to work on (API targets), locked right after `BEGIN`.
        """
        queued: set[str] = set()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current: list[Transaction] = []
            try:
                with self.transaction(read_only=read_only, trees=trees, queue_on=queued) as tx:
                    current.append(tx)
                    return body(tx)
            except TreeBusyError as busy:
                if attempt == MAX_ATTEMPTS:
                    raise
                queued |= busy.roots  # next attempt waits its turn; no need to back off
            except Exception as error:
                lost = is_disconnect(error) and not (current and current[0].committing)
                if not (lost or is_conflict(error)) or attempt == MAX_ATTEMPTS:
                    raise
                if current:
                    queued |= current[0].uow.roots
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(
        self,
        *,
        read_only: bool = False,
        isolation: str | None = None,
        trees: Iterable[TreeHint] = (),
        queue_on: Iterable[str] = (),
    ) -> Iterator[Transaction]:
        """One attempt: committed if the block returns, rolled back if it raises."""
        if self.closed:
            raise ConfigurationError(
                "this app is closed (app.close() was called): open a new tq.App to go on"
            )
        core = self.core
        locking = self.postgres and not read_only and isolation is None
        with self._not_nested(), _schema_required(), core.engine.connect() as connection:
            queued: list[str] = []
            try:
                if self.postgres:
                    if locking:
                        self._queue(connection, sorted(set(queue_on)), queued)
                    connection.execution_options(
                        isolation_level=isolation
                        or ("REPEATABLE READ" if read_only else "SERIALIZABLE"),
                        postgresql_readonly=read_only,
                    )
                else:
                    connection.info["tasquencer_read_only"] = read_only
                with connection.begin() as outer:
                    tx = Transaction(core, connection, read_only=read_only, locks_trees=locking)
                    try:
                        tx.trees.hold(queued)
                        if locking:
                            tx.trees.lock_trees_of(trees)
                        yield tx
                        if not outer.is_active:
                            raise TransactionAbortedError()
                        if read_only:
                            outer.rollback()
                        else:
                            tx.flush()
                            tx.committing = True  # leaving the block commits
                    finally:
                        tx.close()
            finally:
                connection.info.pop("tasquencer_read_only", None)
                if queued:
                    self._unqueue(connection, queued)
        if tx.scheduled_jobs:
            core.wake_workers()

    @contextmanager
    def _not_nested(self) -> Iterator[None]:
        """Refuse a transaction opened from inside another of this thread on the same database:
        it would wait for the lock the outer one holds (SQLite: until the busy timeout, then
        again on every retry; PostgreSQL: for the tree's lock) and could never see its writes."""
        open_here = _open_transactions()
        if self._database in open_here:
            raise NestedCallError(
                "a call was made from inside another call on the same database without "
                "ctx=ctx: it would wait for the lock the outer call holds. Pass the ctx you "
                "have (`api.complete_work_item(work_item_id, ctx=ctx)`, "
                "`app.run_mutation(fn, ctx=ctx, ...)`) to run it inside the same transaction, "
                "or schedule it with ctx.scheduler to run after this call commits"
            )
        open_here.add(self._database)
        try:
            yield
        finally:
            open_here.discard(self._database)

    def _queue(self, connection: sa.Connection, roots: list[str], queued: list[str]) -> None:
        """Wait for each tree's session lock in turn, noting each in `queued` once held."""
        connection.execution_options(isolation_level="AUTOCOMMIT")
        for root in roots:
            connection.exec_driver_sql(locks.LOCK_TREE.sql(self.core.dialect), {"root": root})
            queued.append(root)
        connection.commit()  # ends SQLAlchemy's autobegun (autocommit) transaction

    def _unqueue(self, connection: sa.Connection, roots: list[str]) -> None:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        for root in roots:
            connection.exec_driver_sql(locks.UNLOCK_TREE.sql(self.core.dialect), {"root": root})
        connection.commit()
