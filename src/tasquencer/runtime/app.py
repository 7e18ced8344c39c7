"""`tq.App`: the database, the registered workflows and functions, and how calls run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from tasquencer.errors import UnknownVersionError
from tasquencer.runtime.actions import ActionContext, AsyncActionContext
from tasquencer.runtime.clock import Clock, SystemClock
from tasquencer.runtime.functions import MutationContext, QueryContext
from tasquencer.runtime.ids import IdGenerator
from tasquencer.runtime.registry import FunctionDef, FunctionKind, Registry, Retry, function_name
from tasquencer.runtime.runner import Runner
from tasquencer.runtime.scheduler import JobRecord
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.worker import Worker, WorkerThread
from tasquencer.store import database
from tasquencer.store.sql import dialect_for

if TYPE_CHECKING:
    from tasquencer.builder.workflow import WorkflowBuilder
    from tasquencer.engine.definitions import CompiledVersion
    from tasquencer.versioning.versions import VersionsBuilder, WorkflowVersions

F = TypeVar("F", bound=Callable[..., Any])


_MAX_AGE = timedelta(days=100 * 365).total_seconds()


class App:
    """A tasquencer application on one database.

    `tq.App("sqlite:///app.db")` runs embedded; `tq.App("postgresql+psycopg://...")` lets many
    processes share the work. The engine's tables are created or upgraded on first use unless
    `auto_migrate=False` (then run `tasquencer db upgrade`).
    """

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        clock: Clock | None = None,
        sqlite_synchronous: str = "FULL",
        **engine_options: Any,
    ) -> None:
        self.url = url
        self.engine = database.create_engine(
            url, sqlite_synchronous=sqlite_synchronous, **engine_options
        )
        self.dialect = dialect_for(self.engine.dialect.name)
        self.clock: Clock = clock or SystemClock()
        self.ids = IdGenerator()
        self.registry = Registry()
        self._versions: dict[tuple[str, str], CompiledVersion] = {}
        self._workflows: dict[str, WorkflowVersions] = {}
        # Wakes this process's idle workers when a call commits new jobs.
        self._job_signal = threading.Event()
        self.runner = Runner(self)
        if auto_migrate:
            database.upgrade_schema(self.engine)

    # --- workflows -----------------------------------------------------------------------

    def register(self, versions: VersionsBuilder | WorkflowBuilder) -> WorkflowVersions:
        """Check and register a workflow's versions; returns them, with `.api(version)`."""
        from tasquencer.versioning.versions import register_versions

        registered = register_versions(self, versions)
        for version in registered.compiled.values():
            self._versions[(registered.name, version.version_name)] = version
        self._workflows[registered.name] = registered
        return registered

    def compiled_version(self, workflow_name: str, version_name: str) -> CompiledVersion:
        found = self._versions.get((workflow_name, version_name))
        if found is None:
            raise UnknownVersionError(
                f"version {version_name!r} of workflow {workflow_name!r} is not registered "
                "with this app"
            )
        return found

    def is_registered(self, workflow_name: str) -> bool:
        return workflow_name in self._workflows

    # --- functions -----------------------------------------------------------------------

    @overload
    def mutation(self, fn: F, /) -> F: ...
    @overload
    def mutation(
        self, fn: None = None, /, *, internal: bool = ..., name: str | None = ...
    ) -> Callable[[F], F]: ...
    def mutation(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register `def fn(ctx, **kwargs)` to run in one transaction."""
        return self._decorator("mutation", fn, internal=internal, name=name)

    @overload
    def query(self, fn: F, /) -> F: ...
    @overload
    def query(
        self, fn: None = None, /, *, internal: bool = ..., name: str | None = ...
    ) -> Callable[[F], F]: ...
    def query(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register `def fn(ctx, **kwargs)` to run in a read-only transaction."""
        return self._decorator("query", fn, internal=internal, name=name)

    @overload
    def action(self, fn: F, /) -> F: ...
    @overload
    def action(
        self,
        fn: None = None,
        /,
        *,
        internal: bool = ...,
        name: str | None = ...,
        retry: Retry | None = ...,
    ) -> Callable[[F], F]: ...
    def action(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
        retry: Retry | None = None,
    ) -> Any:
        """Register `def fn(ctx, **kwargs)` or `async def` to run outside any transaction."""
        return self._decorator("action", fn, internal=internal, name=name, retry=retry)

    def _decorator(
        self,
        kind: FunctionKind,
        fn: Callable[..., Any] | None,
        *,
        internal: bool,
        name: str | None,
        retry: Retry | None = None,
    ) -> Any:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(function):
                raise TypeError(f"@app.{kind} decorates a function, got {function!r}")
            if kind != "action" and asyncio.iscoroutinefunction(function):
                raise TypeError(
                    f"{function_name(function)}: a {kind} runs inside a transaction and must be "
                    "a plain `def`; only actions may be `async def`"
                )
            definition = FunctionDef(
                name or function_name(function), kind, function, internal=internal, retry=retry
            )
            self.registry.add(function, definition)
            return function

        return register(fn) if fn is not None else register

    def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        """Run a registered mutation in its own transaction and return its result.

        On PostgreSQL a call that loses a conflict with a concurrent one is run again from
        the start, so mutations must be deterministic.
        """
        definition = self._resolve(function, "mutation")
        trees = definition.trees(kwargs) if definition.trees else ()
        return self.runner.run(lambda tx: definition.fn(MutationContext(tx), **kwargs), trees=trees)

    def run_query(self, function: object, /, **kwargs: Any) -> Any:
        definition = self._resolve(function, "query")
        return self.runner.run(lambda tx: definition.fn(QueryContext(tx), **kwargs), read_only=True)

    def run_action(self, function: object, /, **kwargs: Any) -> Any:
        """Run a registered action here and now (not as a job); async actions run to completion."""
        definition = self._resolve(function, "action")
        if definition.is_async:
            return asyncio.run(definition.fn(AsyncActionContext(self), **kwargs))
        return definition.fn(ActionContext(self), **kwargs)

    async def run_action_async(self, function: object, /, **kwargs: Any) -> Any:
        definition = self._resolve(function, "action")
        if definition.is_async:
            return await definition.fn(AsyncActionContext(self), **kwargs)
        return await asyncio.to_thread(definition.fn, ActionContext(self), **kwargs)

    async def run_mutation_async(self, function: object, /, **kwargs: Any) -> Any:
        """`run_mutation` for async callers: the transaction runs in a worker thread."""
        return await asyncio.to_thread(self.run_mutation, function, **kwargs)

    async def run_query_async(self, function: object, /, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.run_query, function, **kwargs)

    def _resolve(self, function: object, kind: FunctionKind) -> FunctionDef:
        definition = self.registry.resolve(function)
        if definition.kind != kind:
            raise TypeError(
                f"{definition.name} is registered as a {definition.kind}, not a {kind}; "
                f"use app.run_{definition.kind}(...)"
            )
        return definition

    # --- jobs ----------------------------------------------------------------------------

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.transaction(read_only=True) as tx:
            return tx.scheduler.get(job_id)

    def list_jobs(
        self, *, state: str | None = None, function: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        """Jobs, most recent first, optionally filtered by state and function name."""
        with self.transaction(read_only=True) as tx:
            return tx.scheduler.list(state=state, function=function, limit=limit)

    def prune_jobs(self, *, older_than: float | timedelta = timedelta(days=7)) -> int:
        """Delete jobs that finished (success, failed, canceled) at least `older_than` ago.

        Returns how many. Pending and running jobs are never touched. Their run records go
        too, so keep `older_than` far above any lease a stalled worker could still act on.
        """
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else older_than
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= _MAX_AGE
        ):
            raise ValueError(
                f"prune_jobs needs older_than >= 0 (seconds or a timedelta), got {older_than!r}"
            )
        age = timedelta(seconds=seconds)
        before = self.clock.now() - age
        return self.runner.run(lambda tx: tx.scheduler.prune(before))

    def start_worker(self, **options: Any) -> WorkerThread:
        """Run jobs on a background thread of this process (a context manager; `.stop()`)."""
        return WorkerThread(Worker(self, **options))

    def run_due_jobs(self, *, max_jobs: int = 10_000) -> int:
        """Run every job due now, and those they schedule for now, until none is due.

        Deterministic (one at a time, in `run_at` order, in this thread): meant for tests with
        a fake clock. Returns the number of jobs run.
        """
        worker = Worker(self, worker_id="run_due_jobs", batch=1)
        try:
            worker.recover_expired()
            count = 0
            while worker.run_next():
                count += 1
                if count >= max_jobs:
                    raise RuntimeError(
                        f"run_due_jobs ran {max_jobs} jobs and more are due: a job may be "
                        "rescheduling itself without delay"
                    )
            return count
        finally:
            worker.flush()
            worker.close()

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Transaction]:
        """One transaction, not retried: committed if the block returns, rolled back if not."""
        with self.runner.transaction(read_only=read_only) as tx:
            yield tx

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
