"""One call, one transaction: the connection, the engine's rows, the user's Session, the jobs.

The user's `Session` (`ctx.db`) shares the transaction's connection. Before it runs a query or
flushes its own objects, the engine's pending rows are written, so both sides always see each
other's changes and foreign keys from the user's tables to the engine's hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, orm

from tasquencer.engine.execution import Execution
from tasquencer.runtime.scheduler import Scheduler
from tasquencer.store.sql import Db
from tasquencer.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from tasquencer.runtime.app import App


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


class Transaction:
    """The services one transaction offers the engine and user code (see `Services`)."""

    def __init__(self, app: App, connection: sa.Connection, *, read_only: bool = False) -> None:
        self.app = app
        self.connection = connection
        self.read_only = read_only
        self.db = Db(connection, app.dialect)
        self.uow = UnitOfWork(self.db)
        self._now = app.clock.now()
        self._session: EngineSession | None = None
        self._scheduler: Scheduler | None = None
        self._execution: Execution | None = None
        # Set when this transaction scheduled a job, so local workers can be woken on commit.
        self.scheduled_jobs = False

    @property
    def execution(self) -> Execution:
        if self._execution is None:
            self._execution = Execution(self.uow, self.app.compiled_version, self)
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
        return self.app.ids.new_id()

    def flush(self) -> None:
        """Write everything pending: engine rows, then the user's objects."""
        self.uow.flush()
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self.db.close()
