"""One call, one transaction: the connection, the engine's rows, the user's Session, the jobs.

The user's `Session` (`ctx.db`) shares the transaction's connection. Before it runs a query or
flushes its own objects, the engine's pending rows are written, so both sides always see each
other's changes and foreign keys from the user's tables to the engine's hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, orm

from tasquencer.engine.execution import Execution
from tasquencer.engine.recording import NULL_RECORDER, TransactionRecorder
from tasquencer.runtime.core import Core
from tasquencer.runtime.failures import is_conflict, is_disconnect
from tasquencer.runtime.scheduler import Scheduler
from tasquencer.runtime.treelocks import TreeLocks
from tasquencer.store.sql import Db
from tasquencer.store.unit_of_work import UnitOfWork


class EngineSession(orm.Session):
    """`ctx.db`: a SQLAlchemy Session inside the engine's transaction.

    The call commits or rolls back as a whole; `commit()` here only flushes.
    """

    def commit(self) -> None:
        self.flush()


@event.listens_for(EngineSession, "before_flush")
def _flush_engine_before_user_flush(session: orm.Session, *_: Any) -> None:
    session.info["tasquencer_uow"].flush()


@event.listens_for(EngineSession, "do_orm_execute")
def _flush_engine_before_user_query(state: orm.ORMExecuteState) -> None:
    state.session.info["tasquencer_uow"].flush()


T = TypeVar("T")


def _ends_the_call(error: BaseException) -> bool:
    """A lost race or connection: the whole call is rolled back (and maybe run again)."""
    return is_conflict(error) or is_disconnect(error)


class Transaction:
    """The services one transaction offers the engine and user code (see `Services`)."""

    def __init__(
        self,
        core: Core,
        connection: sa.Connection,
        *,
        read_only: bool = False,
        locks_trees: bool = False,
    ) -> None:
        self.core = core
        self.connection = connection
        self.read_only = read_only
        self.db = Db(connection, core.dialect)
        self._locks_trees = locks_trees
        self._now = core.clock.now()
        self._session: EngineSession | None = None
        self._scheduler: Scheduler | None = None
        self._execution: Execution | None = None
        self._recorder: TransactionRecorder = NULL_RECORDER
        # Every recorder of this transaction, its committed savepoints' (`absorb`) included.
        self._recorders: list[TransactionRecorder] = []
        # Set when this transaction scheduled a job, so local workers can be woken on commit.
        self.scheduled_jobs = False
        # Set once everything is written and only the COMMIT remains (see runtime.runner).
        self.committing = False
        # Set when the call is over: its ctx can no longer run anything.
        self.closed = False

    # Made on first use: a read of the facade needs neither (about a third of its shell).
    @cached_property
    def trees(self) -> TreeLocks:
        return TreeLocks(self.db)

    @cached_property
    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, on_tree=self.trees.lock if self._locks_trees else None)

    @property
    def execution(self) -> Execution:
        if self._execution is None:
            self._recorder = self.core.new_recorder(self._now)
            self._recorders.append(self._recorder)
            self._execution = Execution(self.uow, self.core.versions, self, recorder=self._recorder)
        return self._execution

    @property
    def session(self) -> EngineSession:
        if self._session is None:
            if not self.connection.in_transaction():
                # The runner began the call on the driver (SQLite): SQLAlchemy's transaction
                # joins it, and the Session joins that one instead of owning one it would
                # roll back when it closes.
                self.connection.begin()
            self._session = EngineSession(
                bind=self.connection,
                # Use the call's transaction as is (no savepoint of its own, which closing the
                # session would roll back); a failed flush rolls back the call.
                join_transaction_mode="rollback_only",
                expire_on_commit=False,
                info={"tasquencer_uow": self.uow},
            )
        return self._session

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = Scheduler(self)
        return self._scheduler

    @property
    def jobs(self) -> Scheduler:
        return self.scheduler

    def now(self) -> datetime:
        """The transaction's time: read once from the app clock, so a call sees one instant."""
        return self._now

    def new_id(self) -> str:
        return self.core.ids.new_id()

    def saw_tree(self, root: str) -> None:
        """A read of this call looked into a workflow tree: lock it, as the engine's own reads
        of rows do (PostgreSQL mutations)."""
        if self._locks_trees:
            self.trees.lock(root)

    def nested(self) -> Transaction:
        """A fresh engine state on this connection (for a savepoint), sharing the tree locks."""
        inner = Transaction(self.core, self.connection, locks_trees=self._locks_trees)
        inner.trees.held = self.trees.held
        return inner

    def run_nested(self, body: Callable[[], T]) -> T:
        """Run a nested call (an API call or mutation given `ctx=ctx`) all or nothing.

        It runs in a savepoint of this transaction, on the same rows: if it raises, the
        savepoint is rolled back and the engine's rows, the user's Session and the call's
        bookkeeping are back where they were before it, whether or not the caller catches
        the error. A conflict or a lost connection is not caught here: it ends the whole call.
        """
        execution = self.execution
        session = self.session
        self.flush()
        checkpoint = execution.checkpoint()
        recorded = self._recorder.mark()
        held = set(self.trees.held)
        scheduled = self.scheduler.scheduled_ids()
        savepoint = session.begin_nested()
        session.connection()  # the SAVEPOINT now, before the engine writes on the cursor
        try:
            result = body()
        except Exception as error:
            if not _ends_the_call(error) and savepoint.is_active:
                savepoint.rollback()
                execution.restore(checkpoint)
                self._recorder.rewind(recorded)
                self.trees.held = held
                self.scheduler.keep_scheduled(scheduled)
            raise
        savepoint.commit()
        return result

    def absorb(self, inner: Transaction) -> None:
        """Take on what the work of a committed savepoint (`nested()`) leaves for the commit."""
        self.scheduled_jobs |= inner.scheduled_jobs
        self.uow.canceled_jobs.extend(inner.uow.canceled_jobs)
        self._recorders.extend(inner._recorders)

    def committed(self) -> None:
        """The call is committed: what recorded it may now tell the world (OpenTelemetry)."""
        for recorder in self._recorders:
            recorder.committed()

    def flush(self) -> None:
        """Write everything pending: engine rows and their audit spans, then the user's
        objects."""
        self.uow.flush()
        self._recorder.flush(self.db)
        if self._session is not None:
            self._session.flush()

    def flush_and_commit(self) -> None:
        """Write everything pending and COMMIT, in one pipeline (the runner's PostgreSQL
        transactions): a round trip only where a statement's answer is needed. The user's
        objects go first, through SQLAlchemy, which reads their row counts as it goes."""
        if self._session is not None:
            self._session.flush()
        with self.db.pipelined():
            self.uow.flush()
            self._recorder.flush(self.db)
            self.committing = True
            self.db.commit()

    def close(self) -> None:
        self.closed = True
        if self._session is not None:
            self._session.close()
        self.db.close()
        # The execution and scheduler point back at this transaction: dropping them breaks the
        # cycle, so a call's rows are freed when it ends instead of by the garbage collector.
        if self._execution is not None:
            self._execution.close()
        self._execution = None
        self._scheduler = None
