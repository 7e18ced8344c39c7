"""`tq.App`: the composition root. It opens the database, keeps the registered workflows and
functions, and hands the runtime the narrow `Core` it works with."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Concatenate, TypeVar, overload

from tasquencer import arguments
from tasquencer.api.facade import WorkflowApi
from tasquencer.audit import retention
from tasquencer.audit.config import Audit
from tasquencer.audit.recorder import AuditRecorder
from tasquencer.auth.checks import check_scopes
from tasquencer.auth.directory import Directory
from tasquencer.auth.queues import WorkQueues
from tasquencer.auth.users import Auth
from tasquencer.builder.workflow import WorkflowBuilder
from tasquencer.contexts import (
    ActionContext,
    AsyncActionContext,
    MutationContext,
    QueryContext,
    TransactionContext,
)
from tasquencer.engine.definitions import CompiledVersion
from tasquencer.engine.recording import NULL_RECORDER, TransactionRecorder
from tasquencer.errors import UnknownVersionError, WorkflowNotFoundError, describe
from tasquencer.records import JobRecord, MigrationOutcome
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.clock import Clock, SystemClock
from tasquencer.runtime.core import Core
from tasquencer.runtime.ids import IdGenerator
from tasquencer.runtime.registry import FunctionDef, FunctionKind, Registry, Retry, function_name
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.worker import Worker, WorkerThread
from tasquencer.store import database
from tasquencer.store.sql import dialect_for
from tasquencer.versioning import migrate as migrate_
from tasquencer.versioning.versions import VersionsBuilder, WorkflowVersions, register_versions

# What each decorator accepts: a function whose first parameter takes that kind of ctx.
Mutation = TypeVar("Mutation", bound=Callable[Concatenate[MutationContext, ...], object])
Query = TypeVar("Query", bound=Callable[Concatenate[QueryContext, ...], object])
Action = TypeVar(
    "Action",
    bound=Callable[Concatenate[ActionContext, ...], object]
    | Callable[Concatenate[AsyncActionContext, ...], Awaitable[object]],
)
R = TypeVar("R")

_MAX_AGE = timedelta(days=100 * 365).total_seconds()


class App:
    """A tasquencer application on one database.

    `tq.App("sqlite:///app.db")` runs embedded; `tq.App("postgresql+psycopg://...")` lets many
    processes share the work. The engine's tables are created or upgraded on first use unless
    `auto_migrate=False` (then run `tasquencer db upgrade`).

    `auth=tq.Auth(get_user=fn, scopes=[...])` says how to read the calling user from what
    calls pass as `user=`, and which scopes roles may grant; `app.auth` manages groups and
    roles, `app.queues` lists the work offered to people and agents.

    `audit=tq.Audit(...)` (the default records every change, payloads left out) keeps the audit
    trail read by `api.get_workflow_history`, `get_trace_spans` and `get_workflow_state_at`;
    `audit=None` records nothing.
    """

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        clock: Clock | None = None,
        sqlite_synchronous: str = "FULL",
        auth: Auth | None = None,
        audit: Audit | None = Audit(),  # noqa: B008 - frozen, so one instance is shared safely
        **engine_options: Any,
    ) -> None:
        if auth is not None and not isinstance(auth, Auth):
            raise TypeError(f"tq.App(auth=...) takes a tq.Auth(...), got {auth!r}")
        if audit is not None and not isinstance(audit, Audit):
            raise TypeError(f"tq.App(audit=...) takes a tq.Audit(...) or None, got {audit!r}")
        self.audit = audit
        self.auth_config = auth or Auth()
        self.url = url
        self.engine = database.create_engine(
            url, sqlite_synchronous=sqlite_synchronous, **engine_options
        )
        self.clock: Clock = clock or SystemClock()
        self.registry = Registry()
        self._versions: dict[tuple[str, str], CompiledVersion] = {}
        self._workflows: dict[str, WorkflowVersions] = {}
        self.core = Core(
            engine=self.engine,
            dialect=dialect_for(self.engine.dialect.name),
            clock=self.clock,
            ids=IdGenerator(),
            registry=self.registry,
            versions=self.compiled_version,
            new_recorder=_recorders(audit),
        )
        self.runtime = Runtime(self.core, self.auth_config.resolve_user)
        self.auth = Directory(self.runtime.runner, self.auth_config.registry)
        self.queues = WorkQueues(self.runtime)
        if auto_migrate:
            database.upgrade_schema(self.engine)

    # --- workflows -----------------------------------------------------------------------

    def register(self, versions: VersionsBuilder | WorkflowBuilder) -> WorkflowVersions:
        """Check and register a workflow's versions; returns them, with `.api(version)`.

        Offers and the policies of `tq.require_scope(...)` helpers may name only scopes the
        app declares (`tq.Auth(scopes=[...])`)."""
        registered = register_versions(versions, self.runtime, self._workflows)
        for version in registered.compiled.values():
            check_scopes(version, self.auth_config.registry)
        for version in registered.compiled.values():
            self._versions[(registered.name, version.version_name)] = version
        self._workflows[registered.name] = registered
        return registered

    @property
    def workflows(self) -> Mapping[str, WorkflowVersions]:
        """The registered workflows by name."""
        return MappingProxyType(self._workflows)

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

    def api_of(self, workflow_id: str) -> WorkflowApi:
        """The API of the version an instance (root or child) runs, whatever its workflow."""
        with self.transaction(read_only=True) as tx:
            row = tx.uow.workflow(workflow_id) if isinstance(workflow_id, str) else None
        if row is None or row.path[0] not in self._workflows:
            raise WorkflowNotFoundError(f"there is no workflow {workflow_id!r}")
        return self._workflows[row.path[0]].api(row.version_name)

    # --- migrations ----------------------------------------------------------------------

    def migrate(self, workflow_id: str, *, to_version: str) -> str:
        """Move a running root instance to a later version; returns the new instance's id.

        The instance is canceled as migrated and a new one of `to_version` replays its
        progress (see `tq.migrate`); each intermediate version is one transaction. The
        snapshots link them (`migrated_from` / `migrated_to`).
        """
        name, version = migrate_.root_version_of(self.runtime, workflow_id)
        return migrate_.migrate(
            self.runtime, self._versions_of(name), workflow_id, to_version, version
        )

    def migrate_all(
        self,
        workflow_name: str,
        *,
        from_version: str,
        to_version: str,
        batch_size: int = 100,
        dry_run: bool = False,
        on_progress: Callable[[MigrationOutcome], object] | None = None,
    ) -> list[MigrationOutcome]:
        """Migrate every running root instance of `from_version`, each in transactions of
        its own; an instance that fails is reported in its outcome and left as it was. With
        `dry_run`, each migration is run and rolled back."""
        return migrate_.migrate_all(
            self.runtime,
            self._versions_of(workflow_name),
            from_version,
            to_version,
            batch_size=batch_size,
            dry_run=dry_run,
            on_progress=on_progress,
        )

    def _versions_of(self, workflow_name: str) -> WorkflowVersions:
        versions = self._workflows.get(workflow_name)
        if versions is None:
            raise UnknownVersionError(f"no workflow {describe(workflow_name)} is registered")
        return versions

    # --- functions -----------------------------------------------------------------------

    @overload
    def mutation(self, fn: Mutation, /) -> Mutation: ...
    @overload
    def mutation(
        self, fn: None = None, /, *, internal: bool = ..., name: str | None = ...
    ) -> Callable[[Mutation], Mutation]: ...
    def mutation(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register `def fn(ctx: tq.MutationContext, **kwargs)` to run in one transaction."""
        return self._decorator("mutation", fn, internal=internal, name=name)

    @overload
    def query(self, fn: Query, /) -> Query: ...
    @overload
    def query(
        self, fn: None = None, /, *, internal: bool = ..., name: str | None = ...
    ) -> Callable[[Query], Query]: ...
    def query(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register `def fn(ctx: tq.QueryContext, **kwargs)` to run in a read-only transaction."""
        return self._decorator("query", fn, internal=internal, name=name)

    @overload
    def action(self, fn: Action, /) -> Action: ...
    @overload
    def action(
        self,
        fn: None = None,
        /,
        *,
        internal: bool = ...,
        name: str | None = ...,
        retry: Retry | None = ...,
    ) -> Callable[[Action], Action]: ...
    def action(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        internal: bool = False,
        name: str | None = None,
        retry: Retry | None = None,
    ) -> Any:
        """Register `def fn(ctx: tq.ActionContext, **kwargs)` (or `async def` with
        `tq.AsyncActionContext`) to run outside any transaction."""
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

    @overload
    def run_mutation(
        self,
        function: Callable[..., R],
        /,
        *,
        ctx: MutationContext | None = ...,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    def run_mutation(
        self,
        function: str,
        /,
        *,
        ctx: MutationContext | None = ...,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> object: ...
    def run_mutation(
        self,
        function: object,
        /,
        *,
        ctx: object = None,
        internal: bool = False,
        user: object = None,
        **kwargs: Any,
    ) -> Any:
        """Run a registered mutation and return its result.

        In a transaction of its own, or, given `ctx=ctx`, inside that context's transaction
        (all or nothing: if it raises, nothing it did remains). The call is external unless
        `internal=True`: a function registered `internal=True` refuses external calls. On
        PostgreSQL a call that loses a conflict with a concurrent one is run again from the
        start, so mutations must be deterministic. `user=` names who is calling (given `ctx`,
        the outer call's user is kept unless `user=` names another).
        """
        return self.runtime.run_mutation(function, ctx=ctx, internal=internal, user=user, **kwargs)

    @overload
    def run_query(
        self,
        function: Callable[..., R],
        /,
        *,
        ctx: TransactionContext | None = ...,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    def run_query(
        self,
        function: str,
        /,
        *,
        ctx: TransactionContext | None = ...,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> object: ...
    def run_query(
        self,
        function: object,
        /,
        *,
        ctx: object = None,
        internal: bool = False,
        user: object = None,
        **kwargs: Any,
    ) -> Any:
        """Run a registered query in a read-only transaction (or in `ctx`'s transaction)."""
        return self.runtime.run_query(function, ctx=ctx, internal=internal, user=user, **kwargs)

    @overload
    def run_action(
        self,
        function: Callable[..., Awaitable[R]],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    def run_action(
        self,
        function: Callable[..., R],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    def run_action(
        self, function: str, /, *, internal: bool = ..., user: object = ..., **kwargs: object
    ) -> object: ...
    def run_action(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        """Run a registered action here and now (not as a job); async actions run to completion."""
        return self.runtime.run_action(function, internal=internal, user=user, **kwargs)

    @overload
    async def run_action_async(
        self,
        function: Callable[..., Awaitable[R]],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    async def run_action_async(
        self,
        function: Callable[..., R],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    async def run_action_async(
        self, function: str, /, *, internal: bool = ..., user: object = ..., **kwargs: object
    ) -> object: ...
    async def run_action_async(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        return await self.runtime.run_action_async(function, internal=internal, user=user, **kwargs)

    @overload
    async def run_mutation_async(
        self,
        function: Callable[..., R],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    async def run_mutation_async(
        self, function: str, /, *, internal: bool = ..., user: object = ..., **kwargs: object
    ) -> object: ...
    async def run_mutation_async(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        """`run_mutation` for async callers: the transaction runs in a worker thread."""
        return await asyncio.to_thread(
            self.runtime.run_mutation, function, internal=internal, user=user, **kwargs
        )

    @overload
    async def run_query_async(
        self,
        function: Callable[..., R],
        /,
        *,
        internal: bool = ...,
        user: object = ...,
        **kwargs: object,
    ) -> R: ...
    @overload
    async def run_query_async(
        self, function: str, /, *, internal: bool = ..., user: object = ..., **kwargs: object
    ) -> object: ...
    async def run_query_async(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        return await asyncio.to_thread(
            self.runtime.run_query, function, internal=internal, user=user, **kwargs
        )

    # --- jobs ----------------------------------------------------------------------------

    def get_job(self, job_id: str) -> JobRecord | None:
        """A job's record (None if there is no such job)."""
        # Through the runner, like queries: read again on a fresh connection if the pooled one
        # turns out dead (a server restart).
        return self.runtime.runner.run(lambda tx: tx.scheduler.get(job_id), read_only=True)

    def list_jobs(
        self, *, state: str | None = None, function: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        """Jobs, most recent first, optionally filtered by state and function name."""
        return self.runtime.runner.run(
            lambda tx: tx.scheduler.list(state=state, function=function, limit=limit),
            read_only=True,
        )

    def prune_jobs(self, *, older_than: float | timedelta = timedelta(days=7)) -> int:
        """Delete jobs that finished (success, failed, canceled) at least `older_than` ago.

        Returns how many. Pending and running jobs are never touched. Their run records go
        too, so keep `older_than` far above any lease a stalled worker could still act on.
        """
        age = arguments.seconds(older_than, "prune_jobs' older_than", maximum=_MAX_AGE)
        before = self.clock.now() - timedelta(seconds=age)
        return self.runtime.runner.run(lambda tx: tx.scheduler.prune(before))

    def prune_audit(self, *, older_than: float | timedelta = timedelta(days=90)) -> int:
        """Delete the audit trail of workflow trees whose root finished at least `older_than`
        ago (spans, checkpoints, the trace); returns how many traces. Running trees keep theirs."""
        age = arguments.seconds(older_than, "prune_audit's older_than", maximum=_MAX_AGE)
        before = self.clock.now() - timedelta(seconds=age)
        return self.runtime.runner.run(lambda tx: retention.prune(tx, before))

    def start_worker(
        self,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        poll_interval: float = 1.0,
        lease_seconds: float = 30.0,
        batch: int = 8,
    ) -> WorkerThread:
        """Run jobs on `concurrency` background threads of this process, as `tasquencer
        worker` does in a process of its own (a context manager; `.stop()`)."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
        ids = (
            [worker_id]
            if concurrency == 1
            else [f"{worker_id}-{i}" if worker_id else None for i in range(concurrency)]
        )
        return WorkerThread(
            [
                Worker(
                    self.runtime,
                    worker_id=each,
                    poll_interval=poll_interval,
                    lease_seconds=lease_seconds,
                    batch=batch,
                )
                for each in ids
            ]
        )

    def run_due_jobs(self, *, max_jobs: int = 10_000) -> int:
        """Run every job due now, and those they schedule for now, until none is due.

        Deterministic (one at a time, in `run_at` order, in this thread): meant for tests with
        a fake clock. Returns the number of jobs run.
        """
        worker = Worker(self.runtime, worker_id="run_due_jobs", batch=1)
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
        with self.runtime.transaction(read_only=read_only) as tx:
            yield tx

    def without_waiting(self) -> AbstractContextManager[None]:
        """Calls made in this block (in this thread or task) never wait for the database: on
        SQLite a write that would have to wait for another writer raises `tq.WouldWaitError`
        before doing anything, so it can be made again where waiting is fine. An event loop
        runs short calls itself this way and hands to a thread only those that would wait
        (`tq.web` does). On PostgreSQL calls run as always."""
        return self.runtime.runner.without_waiting()

    def close(self) -> None:
        """Close the database connections; the app refuses calls from then on."""
        self.runtime.runner.close()
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _recorders(audit: Audit | None) -> Callable[[datetime], TransactionRecorder]:
    """What records each call: the audit trail, or nothing with `audit=None`."""
    if audit is None:
        return lambda _: NULL_RECORDER
    return lambda now: AuditRecorder(audit, now)
