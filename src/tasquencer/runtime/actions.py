"""The `ctx` of an action: I/O is allowed, the engine is reached only through mutations.

An action runs outside any transaction. `ctx.run_mutation` / `ctx.run_query` run a registered
function in a transaction of its own; `ctx.scheduler` schedules at once (each call commits).
A sync action gets results directly; an `async def` action gets the awaitable twins.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tasquencer.runtime.scheduler import JobRecord

if TYPE_CHECKING:
    from tasquencer.runtime.app import App


class ActionScheduler:
    """`ctx.scheduler` in an action: every call is its own transaction.

    Once the action's own job has been canceled, jobs it tries to schedule are dropped: the
    returned id names no job.
    """

    def __init__(self, app: App, job_id: str | None) -> None:
        self._app = app
        self._job_id = job_id

    def run_after(self, delay: float | timedelta, function: object, /, **kwargs: Any) -> str:
        with self._app.transaction() as tx:
            if self._canceled(tx.scheduler):
                return tx.new_id()
            return tx.scheduler.run_after(delay, function, **kwargs)

    def run_at(self, when: datetime, function: object, /, **kwargs: Any) -> str:
        with self._app.transaction() as tx:
            if self._canceled(tx.scheduler):
                return tx.new_id()
            return tx.scheduler.run_at(when, function, **kwargs)

    def cancel(self, job_id: str) -> None:
        with self._app.transaction() as tx:
            tx.scheduler.cancel(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        return self._app.get_job(job_id)

    def _canceled(self, scheduler: Any) -> bool:
        if self._job_id is None:
            return False
        record = scheduler.get(self._job_id)
        return record is not None and record.state == "canceled"


class ActionContext:
    """`ctx` of a sync action."""

    def __init__(
        self, app: App, job_id: str | None = None, attempt: int = 1, max_attempts: int = 1
    ) -> None:
        self._app = app
        self.job_id = job_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.is_internal = True
        self.scheduler = ActionScheduler(app, job_id)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def now(self) -> datetime:
        return self._app.clock.now()

    def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        return self._app.run_mutation(function, **kwargs)

    def run_query(self, function: object, /, **kwargs: Any) -> Any:
        return self._app.run_query(function, **kwargs)

    def run_action(self, function: object, /, **kwargs: Any) -> Any:
        return self._app.run_action(function, **kwargs)


class AsyncActionContext:
    """`ctx` of an `async def` action: the same calls, awaited."""

    def __init__(
        self, app: App, job_id: str | None = None, attempt: int = 1, max_attempts: int = 1
    ) -> None:
        self._app = app
        self.job_id = job_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.is_internal = True
        self.scheduler = ActionScheduler(app, job_id)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def now(self) -> datetime:
        return self._app.clock.now()

    async def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._app.run_mutation, function, **kwargs)

    async def run_query(self, function: object, /, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._app.run_query, function, **kwargs)

    async def run_action(self, function: object, /, **kwargs: Any) -> Any:
        return await self._app.run_action_async(function, **kwargs)
