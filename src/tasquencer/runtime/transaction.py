"""One call, one transaction: the connection, the engine's rows, the user's Session, the jobs.

The user's `Session` (`ctx.db`) shares the transaction's connection. Before it runs a query or
flushes its own objects, the engine's pending rows are written, so both sides always see each
other's changes and foreign keys from the user's tables to the engine's hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event, orm

from tasquencer.engine.execution import Execution
from tasquencer.runtime.core import Core
from tasquencer.runtime.scheduler import Scheduler
from tasquencer.store import locks
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


# What an API call is known to work on: ("work_item" | "workflow", id).
TreeHint = tuple[Literal["work_item", "workflow"], str]


class TreeBusyError(Exception):
    """Another call holds a workflow tree this one needs: run again, queued for it."""

    def __init__(self, roots: set[str]) -> None:
        super().__init__(f"workflow trees in use by another call: {sorted(roots)}")
        self.roots = roots


class TreeLocks:
    """The workflow trees a call holds locks on (PostgreSQL; see runtime.runner)."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.held: set[str] = set()

    def hold(self, roots: Iterable[str]) -> None:
        """Note trees whose session lock this call already holds."""
        self.held.update(roots)

    def lock(self, root: str) -> None:
        """Take the tree's lock for this transaction, or raise `TreeBusyError` at once."""
        if root in self.held:
            return
        (locked,) = self.db.one(locks.TRY_LOCK_TREE, {"root": root}) or (False,)
        if not locked:
            raise TreeBusyError({root})
        self.held.add(root)

    def lock_trees_of(self, hints: Iterable[TreeHint]) -> None:
        for kind, element_id in hints:
            statement = (
                locks.TRY_LOCK_TREE_OF_WORK_ITEM
                if kind == "work_item"
                else locks.TRY_LOCK_TREE_OF_WORKFLOW
            )
            found = self.db.one(statement, {"id": element_id})
            if found is None:
                continue  # an unknown id: the call itself reports it
            root, locked = found
            if not locked and root not in self.held:
                raise TreeBusyError({root})
            self.held.add(root)


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
        self.trees = TreeLocks(self.db)
        self.uow = UnitOfWork(self.db, on_tree=self.trees.lock if locks_trees else None)
        self._locks_trees = locks_trees
        self._now = core.clock.now()
        self._session: EngineSession | None = None
        self._scheduler: Scheduler | None = None
        self._execution: Execution | None = None
        # Set when this transaction scheduled a job, so local workers can be woken on commit.
        self.scheduled_jobs = False
        # Set once everything is written and only the COMMIT remains (see runtime.runner).
        self.committing = False

    @property
    def execution(self) -> Execution:
        if self._execution is None:
            self._execution = Execution(self.uow, self.core.versions, self)
        return self._execution

    @property
    def session(self) -> EngineSession:
        if self._session is None:
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

    def nested(self) -> Transaction:
        """A fresh engine state on this connection (for a savepoint), sharing the tree locks."""
        inner = Transaction(self.core, self.connection, locks_trees=self._locks_trees)
        inner.trees.held = self.trees.held
        return inner

    def flush(self) -> None:
        """Write everything pending: engine rows, then the user's objects."""
        self.uow.flush()
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self.db.close()
        # The execution and scheduler point back at this transaction: dropping them breaks the
        # cycle, so a call's rows are freed when it ends instead of by the garbage collector.
        if self._execution is not None:
            self._execution.close()
        self._execution = None
        self._scheduler = None
