"""The `ctx` of an action: I/O is allowed, the engine is reached only through mutations.

An action runs outside any transaction. `ctx.run_mutation` / `ctx.run_query` run a registered
function in a transaction of its own; `ctx.scheduler` schedules at once (each call commits).
A sync action gets results directly; an `async def` action gets the awaitable twins.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from tasquencer.contexts import INTERNAL, Caller
from tasquencer.records import JobRecord
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.scheduler import Scheduler


class ActionScheduler:
    """`ctx.scheduler` in an action: every call is its own transaction.

    Once the action's own job has been canceled, jobs it tries to schedule are dropped: the
    returned id names no job.
    """

    def __init__(self, runtime: Runtime, job_id: str | None) -> None:
        self._runtime = runtime
        self._job_id = job_id

    def run_after(self, delay: float | timedelta, function: object, /, **kwargs: object) -> str:
        with self._runtime.transaction() as tx:
            if self._canceled(tx.scheduler):
                return tx.new_id()
            return tx.scheduler.run_after(delay, function, **kwargs)

    def run_at(self, when: datetime, function: object, /, **kwargs: object) -> str:
        with self._runtime.transaction() as tx:
            if self._canceled(tx.scheduler):
                return tx.new_id()
            return tx.scheduler.run_at(when, function, **kwargs)

    def cancel(self, job_id: str) -> None:
        with self._runtime.transaction() as tx:
            tx.scheduler.cancel(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        with self._runtime.transaction(read_only=True) as tx:
            return tx.scheduler.get(job_id)

    def _canceled(self, scheduler: Scheduler) -> bool:
        if self._job_id is None:
            return False
        record = scheduler.get(self._job_id)
        return record is not None and record.state == "canceled"


class _ActionBase:
    def __init__(
        self,
        runtime: Runtime,
        job_id: str | None = None,
        attempt: int = 1,
        max_attempts: int = 1,
        *,
        caller: Caller = INTERNAL,
    ) -> None:
        self._runtime = runtime
        self.job_id = job_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.caller = caller
        self.scheduler = ActionScheduler(runtime, job_id)

    @property
    def is_internal(self) -> bool:
        """True when the action runs as a job (or was run with internal=True)."""
        return self.caller.is_internal

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def now(self) -> datetime:
        return self._runtime.core.clock.now()


class ActionCtx(_ActionBase):
    """`ctx` of a sync action."""

    def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        """Run a mutation in a transaction of its own, as an internal call."""
        return self._runtime.run_mutation(function, internal=True, **kwargs)

    def run_query(self, function: object, /, **kwargs: Any) -> Any:
        return self._runtime.run_query(function, internal=True, **kwargs)

    def run_action(self, function: object, /, **kwargs: Any) -> Any:
        return self._runtime.run_action(function, internal=True, **kwargs)


class AsyncActionCtx(_ActionBase):
    """`ctx` of an `async def` action: the same calls, awaited."""

    async def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        """Run a mutation in a transaction of its own (in a thread), as an internal call."""
        return await asyncio.to_thread(
            self._runtime.run_mutation, function, internal=True, **kwargs
        )

    async def run_query(self, function: object, /, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._runtime.run_query, function, internal=True, **kwargs)

    async def run_action(self, function: object, /, **kwargs: Any) -> Any:
        return await self._runtime.run_action_async(function, internal=True, **kwargs)
