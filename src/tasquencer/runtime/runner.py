"""Running calls in transactions: isolation, locking of workflow trees, retries on conflict.

SQLite: a writer begins `IMMEDIATE`, so writers queue on the database lock (within this
process, on a lock of its own first: see runtime.writers); a call is retried only if the lock
could not be had within the busy timeout. Under `without_waiting()` a writer that would queue
raises `WouldWaitError` instead, having done nothing (an event loop runs short calls itself and
sends only those that would wait to a thread).

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

import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa

from tasquencer.errors import (
    ConfigurationError,
    ConflictRetriesExhaustedError,
    NestedCallError,
    TransactionAbortedError,
    WouldWaitError,
)
from tasquencer.runtime.connections import HeldConnections
from tasquencer.runtime.core import Core
from tasquencer.runtime.failures import is_conflict, is_disconnect
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.treelocks import TreeBusyError, TreeHint
from tasquencer.runtime.writers import WriterTurns
from tasquencer.store import database, locks
from tasquencer.store import jobs as jobs_st
from tasquencer.store.sql import AHEAD, Ahead

T = TypeVar("T")
log = logging.getLogger("tasquencer.runner")

MAX_ATTEMPTS = 12
# Under SERIALIZABLE a sequential scan takes a predicate lock on the whole table, so that any
# concurrent write to the table conflicts with the call; the planner picks such scans for the
# small tables of a young database. Index scans lock only the pages and rows they read. (A
# sequential scan still planned, where there is no index, is then priced so high that JIT
# compilation would kick in: tens of milliseconds for a one-row statement.)
SERIALIZABLE_SETTINGS = ("SET LOCAL enable_seqscan = off", "SET LOCAL jit = off")


_local = threading.local()
# Set by `Runner.without_waiting()`: SQLite writers do not wait for the database's lock.
_no_wait: ContextVar[bool] = ContextVar("tasquencer_no_wait", default=False)
_BUSY_TIMEOUT = "tasquencer_busy_timeout_ms"  # `connection.info` key: its busy timeout


def _open_transactions() -> set[str]:
    """The databases this thread has a transaction open on, right now."""
    open_here: set[str] | None = getattr(_local, "open", None)
    if open_here is None:
        open_here = _local.open = set()
    return open_here


def _raise_if_schema_missing(error: Exception) -> None:
    """Turn "no such table" on the engine's tables into an error saying what to do."""
    if database.is_missing_schema(error):
        raise ConfigurationError(
            "the engine's tables are missing from this database: run "
            "`tasquencer db upgrade --url URL` (or open the app with auto_migrate=True, "
            "the default) first"
        ) from error


def _end_sqlite(connection: sa.Connection, driver: Any, *, commit: bool) -> None:
    """Commit or roll back a call's SQLite transaction, through SQLAlchemy if it joined."""
    joined = connection.get_transaction()
    if joined is not None:
        if commit:
            joined.commit()
        else:
            joined.rollback()
    elif driver.in_transaction:
        if commit:
            driver.commit()
        else:
            driver.rollback()


def _began_now(connection: sa.Connection, driver: Any) -> bool:
    """`BEGIN IMMEDIATE` if the write lock is free right now; False if another process has it."""
    timeout = connection.info.get(_BUSY_TIMEOUT)
    if timeout is None:  # the connection's own (connect_args may have set it): read once
        (timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()
        connection.info[_BUSY_TIMEOUT] = timeout
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        driver.execute(database.sqlite_begin(read_only=False))
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return True


def _retry_reason(error: Exception, tx: Transaction | None) -> str | None:
    """Why a failed attempt may run again ("busy", "disconnect", "conflict"), or None."""
    if isinstance(error, TreeBusyError):
        return "busy"
    if is_disconnect(error) and not (tx is not None and tx.committing):
        return "disconnect"  # nothing was committed: safe to run again on a new connection
    if is_conflict(error):
        return "conflict"
    return None


class Runner:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.postgres = core.dialect.name == "postgresql"
        self._database = core.engine.url.render_as_string(hide_password=True)
        self.closed = False
        # PostgreSQL's connections carry session state (isolation, read-only, advisory locks)
        # that its calls change: they go back to the pool, which resets it, after each call.
        self._held = None if self.postgres else HeldConnections(core.engine)
        self._writers = (
            None
            if self.postgres
            else WriterTurns(str(core.engine.url.database), database.SQLITE_BUSY_TIMEOUT)
        )
        self._retries: Counter[str] = Counter()
        self._retries_lock = threading.Lock()

    def close(self) -> None:
        """Refuse calls from now on, and give the connections held by threads back."""
        self.closed = True
        if self._held is not None:
            self._held.close()

    def retries(self) -> Counter[str]:
        """Attempts run again so far, by reason: "conflict", "busy" (tree), "disconnect"."""
        with self._retries_lock:
            return self._retries.copy()

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Calls in the block raise `WouldWaitError`, having done nothing, instead of waiting
        for another writer (SQLite; on PostgreSQL calls run as always)."""
        token = _no_wait.set(True)
        try:
            yield
        finally:
            _no_wait.reset(token)

    def _count_retry(self, reason: str) -> None:
        with self._retries_lock:
            self._retries[reason] += 1

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
        if read_only and self._held is not None:
            return self._sqlite_read(body)
        return self._run(body, read_only=read_only, trees=trees)

    def _run(
        self,
        body: Callable[[Transaction], T],
        *,
        read_only: bool,
        trees: Iterable[TreeHint],
        first: int = 1,
    ) -> T:
        queued: set[str] = set()
        for attempt in range(first, MAX_ATTEMPTS + 1):
            current: list[Transaction] = []
            try:
                with self.transaction(read_only=read_only, trees=trees, queue_on=queued) as tx:
                    current.append(tx)
                    return body(tx)
            except Exception as error:
                reason = _retry_reason(error, current[0] if current else None)
                if reason is None:
                    raise
                if attempt == MAX_ATTEMPTS:
                    if reason == "disconnect":
                        raise
                    raise ConflictRetriesExhaustedError(attempt) from error
                self._count_retry(reason)
                if isinstance(error, TreeBusyError):
                    queued |= error.roots  # the next attempt waits its turn: no need to back off
                    continue
                if current:
                    queued |= current[0].uow.roots
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")

    def _sqlite_read(self, body: Callable[[Transaction], T]) -> T:
        """`run(body, read_only=True)` on SQLite, without its generator and retry loop: a read
        in WAL mode neither waits for writers nor conflicts with them, and the shell was most
        of a one-row read's CPU. A read that does meet a busy database runs again as usual."""
        if self.closed:
            raise ConfigurationError(
                "this app is closed (app.close() was called): open a new tq.App to go on"
            )
        assert self._held is not None
        open_here = self._not_nested()
        connection: sa.Connection | None = None
        failed = True
        try:
            connection = self._held.checkout()
            driver: Any = connection.connection.driver_connection
            info = connection.info
            info.pop(database.ROLLED_BACK, None)
            driver.execute("BEGIN")  # deferred: a reader takes no lock
            tx = Transaction(self.core, connection, read_only=True)
            try:
                result = body(tx)
                if info.get(database.ROLLED_BACK) or not driver.in_transaction:
                    raise TransactionAbortedError()
            except BaseException:
                tx.close()
                with suppress(Exception):  # the connection is given up: see checkin below
                    _end_sqlite(connection, driver, commit=False)
                raise
            tx.close()
            _end_sqlite(connection, driver, commit=False)
            failed = False
        except Exception as error:
            _raise_if_schema_missing(error)
            reason = _retry_reason(error, None)
            if reason is None:
                raise
            self._count_retry(reason)
        finally:
            if connection is not None:
                self._held.checkin(connection, failed=failed)
            open_here.discard(self._database)
        if failed:  # a busy database: attempts 2 and on, as any call's
            time.sleep(random.uniform(0, 0.004))
            return self._run(body, read_only=True, trees=(), first=2)
        return result

    def transaction(
        self,
        *,
        read_only: bool = False,
        isolation: str | None = None,
        trees: Iterable[TreeHint] = (),
        queue_on: Iterable[str] = (),
    ) -> AbstractContextManager[Transaction]:
        """One attempt: committed if the block returns, rolled back if it raises."""
        if self.closed:
            raise ConfigurationError(
                "this app is closed (app.close() was called): open a new tq.App to go on"
            )
        if self._held is not None:
            return self._sqlite_transaction(read_only)
        return self._postgres_transaction(read_only, isolation, trees, queue_on)

    @contextmanager
    def _sqlite_transaction(self, read_only: bool) -> Iterator[Transaction]:
        """Begun and ended on the driver, this thread's held connection: SQLAlchemy's begin and
        commit cost about as much CPU as a whole read. What needs SQLAlchemy's transaction
        (`ctx.db`, a savepoint) begins one, which joins the driver's (see store.database) and
        is then ended through SQLAlchemy."""
        assert self._held is not None and self._writers is not None
        open_here = self._not_nested()
        turn: threading.Lock | None = None
        connection: sa.Connection | None = None
        failed = True
        try:
            waits = not _no_wait.get()
            turn = None if read_only else self._writers.take_turn(wait=waits)
            if turn is None and not read_only:
                raise WouldWaitError("another writer of this process holds the database")
            connection = self._held.checkout()
            info = connection.info
            driver: Any = connection.connection.driver_connection
            info.pop(database.ROLLED_BACK, None)
            if waits or read_only:
                driver.execute(database.sqlite_begin(read_only=read_only))
            elif not _began_now(connection, driver):
                failed = False  # nothing began: the connection is as good as before
                raise WouldWaitError("another process holds the database's write lock")
            try:
                tx = Transaction(self.core, connection, read_only=read_only)
                try:
                    yield tx
                    if info.get(database.ROLLED_BACK) or not driver.in_transaction:
                        raise TransactionAbortedError()
                    if not read_only:
                        tx.flush()
                        tx.committing = True
                finally:
                    tx.close()
                _end_sqlite(connection, driver, commit=not read_only)
            except BaseException:
                with suppress(Exception):  # the connection is given up: see checkin below
                    _end_sqlite(connection, driver, commit=False)
                raise
            failed = False
        except Exception as error:
            _raise_if_schema_missing(error)
            raise
        finally:
            if connection is not None:
                self._held.checkin(connection, failed=failed)
            if turn is not None:
                turn.release()
            open_here.discard(self._database)
        if not read_only:
            tx.committed()
        if tx.scheduled_jobs:
            self.core.wake_workers()

    @contextmanager
    def _postgres_transaction(
        self,
        read_only: bool,
        isolation: str | None,
        trees: Iterable[TreeHint],
        queue_on: Iterable[str],
    ) -> Iterator[Transaction]:
        core = self.core
        locking = not read_only and isolation is None
        open_here = self._not_nested()
        try:
            with core.engine.connect() as connection:
                queued: list[str] = []
                try:
                    if locking:
                        self._queue(connection, sorted(set(queue_on)), queued)
                    level = isolation or ("REPEATABLE READ" if read_only else "SERIALIZABLE")
                    self._begin_later(connection, level, read_only=read_only)
                    with connection.begin() as outer:
                        tx = Transaction(core, connection, read_only=read_only, locks_trees=locking)
                        try:
                            tx.trees.hold(queued)
                            if locking:
                                tx.trees.lock_trees_of(trees)
                            yield tx
                            if not outer.is_active:
                                raise TransactionAbortedError()
                            if not read_only:
                                tx.flush_and_commit()
                            # Leaving the block commits what is still open: a read, which
                            # commits rather than rolls back since psycopg drops its prepared
                            # statements after a ROLLBACK.
                        finally:
                            tx.close()
                    if not read_only:
                        tx.committed()
                    if tx.uow.canceled_jobs:
                        self._apply_cancels(connection, tx.uow.canceled_jobs)
                finally:
                    connection.info.pop(AHEAD, None)  # a transaction that ran nothing
                    if queued:
                        self._unqueue(connection, queued)
        except Exception as error:
            _raise_if_schema_missing(error)
            raise
        finally:
            open_here.discard(self._database)
        if tx.scheduled_jobs:
            core.wake_workers()

    def _not_nested(self) -> set[str]:
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
        return open_here  # the caller discards the database from it when the call is over

    def _begin_later(self, connection: sa.Connection, level: str, *, read_only: bool) -> None:
        """Have the transaction begun with its first statement, in the same round trip.

        The driver is left in autocommit mode, so it sends no BEGIN of its own (it would be a
        round trip of its own); COMMIT and ROLLBACK still go out, the server being in a
        transaction.
        """
        connection.execution_options(isolation_level="AUTOCOMMIT")
        begin = f"BEGIN ISOLATION LEVEL {level}{' READ ONLY' if read_only else ''}"
        settings = SERIALIZABLE_SETTINGS if level == "SERIALIZABLE" else ()
        connection.info[AHEAD] = [Ahead(begin), *map(Ahead, settings)]

    def _apply_cancels(self, connection: sa.Connection, job_ids: list[str]) -> None:
        """Cancel the still pending jobs whose cancellation the committed call recorded.

        Outside the call's transaction, where a worker's concurrent claim is no conflict. Should
        this fail, a reader still sees the jobs canceled, and a worker applies it when they are
        due.
        """
        connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.exec_driver_sql(
                jobs_st.APPLY_CANCELS.sql(self.core.dialect), {"ids": job_ids}
            )
            connection.commit()
        except Exception as error:
            log.warning("could not apply the cancellation of jobs %s yet: %s", job_ids, error)
            with suppress(Exception):
                connection.rollback()

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
