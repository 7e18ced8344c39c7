"""The engine's implementations of the contexts of `tasquencer.contexts`.

All share the transaction's services (`ctx.db`, `ctx.scheduler`, `ctx.now()`), the caller,
`execution_mode` and `register_scheduled`, which ties a job to the element's lifecycle where
that lifecycle allows it and refuses it where the element is being torn down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tasquencer.contexts import (
    Caller,
    ExecutionMode,
    MigrationResult,
    ParentTask,
    ParentWorkflow,
    Path,
    Scheduler,
    TaskStats,
    Transition,
    User,
    WorkflowInfo,
)
from tasquencer.errors import (
    RegisterScheduledNotAllowedError,
    TasquencerError,
    UnknownChildWorkflowError,
    WorkItemAutoTriggerAlreadySetError,
    describe,
)
from tasquencer.records import Offer

if TYPE_CHECKING:
    from tasquencer.engine.execution import Execution, Services
    from tasquencer.engine.routing import RouteBuilder


class BoundContext:
    """What every context inside a transaction is: it knows the transaction's services, so an
    API call given `ctx=ctx` runs in the same transaction."""

    __slots__ = ("caller", "services")

    def __init__(self, services: Services, caller: Caller) -> None:
        self.services = services
        self.caller = caller

    @property
    def db(self) -> Session:
        """The SQLAlchemy `Session` of the running transaction."""
        return self.services.session

    @property
    def is_internal(self) -> bool:
        return self.caller.is_internal

    @property
    def user(self) -> User | None:
        return self.caller.user

    def now(self) -> datetime:
        """The app clock's time (timezone-aware UTC)."""
        return self.services.now()


class ScheduleScope:
    """What `register_scheduled` ties jobs to (`tie(job_id)`), or why it may not."""

    __slots__ = ("_tie", "refusal")

    def __init__(self, tie: Callable[[str], None] | None, refusal: str = "") -> None:
        self._tie = tie
        self.refusal = refusal

    @classmethod
    def refused(cls, where: str) -> ScheduleScope:
        return cls(
            None,
            f"register_scheduled is not available in {where}: the element is being torn "
            "down, so a job tied to it would be canceled at once. Schedule the job with "
            "ctx.scheduler.run_after(...) / run_at(...) directly; such jobs outlive the element.",
        )

    def tie(self) -> Callable[[str], None]:
        if self._tie is None:
            raise RegisterScheduledNotAllowedError(self.refusal)
        return self._tie


class _ElementContext(BoundContext):
    """What the callbacks of workflow elements share."""

    __slots__ = ("_ex", "_scope")

    def __init__(self, ex: Execution, caller: Caller, scope: ScheduleScope) -> None:
        super().__init__(ex.services, caller)
        self._ex = ex
        self._scope = scope

    @property
    def scheduler(self) -> Scheduler:
        return self.services.scheduler

    @property
    def execution_mode(self) -> ExecutionMode:
        return self._ex.execution_mode

    def register_scheduled(self, job_id: str) -> str:
        """Tie a job to this element: it is canceled when the element is torn down."""
        if not isinstance(job_id, str):
            raise TypeError(f"register_scheduled expects a job id (str), got {job_id!r}")
        tie = self._scope.tie()
        self.services.jobs.require(job_id)
        tie(job_id)
        return job_id


# --- workflows -------------------------------------------------------------------------------


class WorkflowActivityCtx(_ElementContext):
    __slots__ = ("parent", "workflow")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        workflow: WorkflowInfo,
        parent: ParentTask | None,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.workflow = workflow
        self.parent = parent


class WorkflowInitializer:
    """`ctx.workflow` in a workflow's initialize action."""

    __slots__ = ("_create", "name")

    def __init__(self, name: str, create: Callable[[], str]) -> None:
        self.name = name
        self._create = create

    def initialize(self) -> str:
        """Create the workflow now (idempotent) and return its id."""
        return self._create()

    @property
    def id(self) -> str:
        return self._create()


class WorkflowInitializeCtx(_ElementContext):
    __slots__ = ("parent", "workflow")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        workflow: WorkflowInitializer,
        parent: ParentTask | None,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.workflow = workflow
        self.parent = parent


class WorkflowCanceler:
    """`ctx.workflow` in a workflow's cancel action."""

    __slots__ = ("_cancel", "id", "name")

    def __init__(self, id: str, name: str, cancel: Callable[[], None]) -> None:
        self.id = id
        self.name = name
        self._cancel = cancel

    def cancel(self) -> None:
        """Mark the workflow canceled now (idempotent); teardown follows the action."""
        self._cancel()


class WorkflowCancelCtx(_ElementContext):
    __slots__ = ("parent", "workflow")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        workflow: WorkflowCanceler,
        parent: ParentTask | None,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.workflow = workflow
        self.parent = parent


# --- tasks -----------------------------------------------------------------------------------


class TaskHandle:
    """`ctx.task`: name, generation, path and the generation's child counts."""

    __slots__ = ("_stats", "generation", "name", "path")

    def __init__(
        self, name: str, generation: int, path: Path, stats: Callable[[], TaskStats]
    ) -> None:
        self.name = name
        self.generation = generation
        self.path = path
        self._stats = stats

    def get_stats(self) -> TaskStats:
        return self._stats()


class StateChange:
    """The child transition a state-changed activity reports."""

    __slots__ = ("id", "next_state", "prev_state")

    def __init__(self, id: str, prev_state: str, next_state: str) -> None:
        self.id = id
        self.prev_state = prev_state
        self.next_state = next_state


class _Children:
    """What task contexts show of a generation's children, and the change being reported
    (`id`, `prev_state`, `next_state`: state-changed activities only)."""

    __slots__ = ("_all_ids", "change")

    def __init__(self, all_ids: Callable[[], list[str]], change: StateChange | None) -> None:
        self._all_ids = all_ids
        self.change = change

    @property
    def id(self) -> str:
        return _change(self.change).id

    @property
    def prev_state(self) -> str:
        return _change(self.change).prev_state

    @property
    def next_state(self) -> str:
        return _change(self.change).next_state


Initialize = Callable[[object], str]


class TaskWorkItems(_Children):
    """`ctx.work_item` in a task's activities, policy and router."""

    __slots__ = ("_initialize", "name", "path")

    def __init__(
        self,
        name: str,
        path: Path,
        all_ids: Callable[[], list[str]],
        initialize: Initialize,
        change: StateChange | None = None,
    ) -> None:
        super().__init__(all_ids, change)
        self.name = name
        self.path = path
        self._initialize = initialize

    def initialize(self, payload: object = None) -> str:
        """Create a work item in this task generation; its auto-triggers run after the
        activity returns."""
        return self._initialize(payload)

    def get_all_work_item_ids(self) -> list[str]:
        return self._all_ids()


class ChildWorkflows(_Children):
    """`ctx.workflow` in a composite task's activities, policy and router."""

    __slots__ = ("_initialize", "name", "path")

    def __init__(
        self,
        name: str,
        path: Path,
        all_ids: Callable[[], list[str]],
        initialize: Initialize,
        change: StateChange | None = None,
    ) -> None:
        super().__init__(all_ids, change)
        self.name = name
        self.path = path
        self._initialize = initialize

    def initialize(self, payload: object = None) -> str:
        """Create and initialize a child workflow in this task generation."""
        return self._initialize(payload)

    def get_all_workflow_ids(self) -> list[str]:
        return self._all_ids()


class Initializers(Mapping[str, Callable[..., str]]):
    """`ctx.workflow.initialize` of a dynamic composite task: one initializer per child
    workflow name, by key (`initialize["review"](payload)`) or attribute."""

    __slots__ = ("_initializers",)

    def __init__(self, initializers: dict[str, Callable[..., str]]) -> None:
        self._initializers = initializers

    def __getitem__(self, name: str) -> Callable[..., str]:
        try:
            return self._initializers[name]
        except KeyError:
            raise UnknownChildWorkflowError(
                f"no child workflow named {describe(name)}; this task can start: "
                + ", ".join(map(repr, self._initializers))
            ) from None

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(str(error)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._initializers)

    def __len__(self) -> int:
        return len(self._initializers)


class DynamicChildWorkflows(_Children):
    """`ctx.workflow` in a dynamic composite task's activities."""

    __slots__ = ("_name", "initialize", "names", "paths")

    def __init__(
        self,
        paths: dict[str, Path],
        all_ids: Callable[[], list[str]],
        initializers: dict[str, Callable[..., str]],
        change: StateChange | None = None,
        child_name: str | None = None,
    ) -> None:
        super().__init__(all_ids, change)
        self.paths = paths
        self.names = {name: name for name in paths}
        self.initialize = Initializers(initializers)
        self._name = child_name

    @property
    def name(self) -> str:
        """The name of the child workflow that changed (state-changed activities only)."""
        if self._name is None:
            raise AttributeError("only the state-changed activity reports a child workflow")
        return self._name

    def get_all_workflow_ids(self) -> list[str]:
        return self._all_ids()


class TaskCtx(_ElementContext):
    __slots__ = ("parent", "task")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.parent = parent
        self.task = task


class TaskActivityCtx(TaskCtx):
    __slots__ = ("work_item",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        work_item: TaskWorkItems,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task)
        self.work_item = work_item


class CompositeActivityCtx(TaskCtx):
    __slots__ = ("workflow",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        workflow: ChildWorkflows,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task)
        self.workflow = workflow


class DynamicCompositeActivityCtx(TaskCtx):
    __slots__ = ("workflow",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        workflow: DynamicChildWorkflows,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task)
        self.workflow = workflow


class DummyActivityCtx(TaskCtx):
    __slots__ = ()


class _Decision(TaskCtx):
    """Policies and routers: they see a generation's children but create none."""

    __slots__ = ("work_item", "workflow", "workflows")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        where: str,
        parent: ParentWorkflow,
        task: TaskHandle,
        work_item: TaskWorkItems | None = None,
        workflow: ChildWorkflows | None = None,
        workflows: list[ChildWorkflows] | None = None,
    ) -> None:
        super().__init__(ex, caller, ScheduleScope.refused(where), parent, task)
        self.work_item = work_item
        self.workflow = workflow
        self.workflows = workflows


class PolicyCtx(_Decision):
    """A task's completion policy: `ctx.transition`, `ctx.task.get_stats()`, ..."""

    __slots__ = ("transition",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        parent: ParentWorkflow,
        task: TaskHandle,
        transition: Transition,
        work_item: TaskWorkItems | None = None,
        workflow: ChildWorkflows | None = None,
        workflows: list[ChildWorkflows] | None = None,
    ) -> None:
        super().__init__(ex, caller, "a policy", parent, task, work_item, workflow, workflows)
        self.transition = transition


class RouterCtx(_Decision):
    """A task's router: build the result with `ctx.route.to_task(name)` /
    `ctx.route.to_condition(name)`."""

    __slots__ = ("route",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        parent: ParentWorkflow,
        task: TaskHandle,
        route: RouteBuilder,
        work_item: TaskWorkItems | None = None,
        workflow: ChildWorkflows | None = None,
        workflows: list[ChildWorkflows] | None = None,
    ) -> None:
        super().__init__(ex, caller, "a router", parent, task, work_item, workflow, workflows)
        self.route = route


# --- work items ------------------------------------------------------------------------------


class AutoTrigger:
    """The one follow-up transition an activity may request for its work item."""

    __slots__ = ("action", "payload")

    def __init__(self) -> None:
        self.action: str | None = None
        self.payload: object = None

    def request(self, action: str, payload: object, work_item_id: str) -> None:
        if self.action is not None:
            raise WorkItemAutoTriggerAlreadySetError(
                f"work item {work_item_id}: this activity already requested "
                f"{self.action!r}; only one follow-up transition is allowed per activity"
            )
        self.action = action
        self.payload = payload


OfferWriter = Callable[[Offer], None]


class WorkItemHandle:
    """`ctx.work_item` in a work item's own activities: id, name, auto-triggers and, in
    `on_initialized`, `offer()`."""

    __slots__ = ("_allowed", "_offer", "_trigger", "id", "name")

    def __init__(
        self,
        id: str,
        name: str,
        trigger: AutoTrigger | None,
        allowed: tuple[str, ...],
        offer: OfferWriter | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self._trigger = trigger
        self._allowed = allowed
        self._offer = offer

    def offer(self, offer: Offer) -> None:
        """Offer this work item (replacing its earlier offer); in `on_initialized` only."""
        if self._offer is None:
            raise TasquencerError(
                f"work item {self.id}: ctx.work_item.offer() is available in its initialize "
                "action and in on_initialized"
            )
        self._offer(offer)

    def start(self, payload: object = None) -> None:
        """Start this work item once `on_initialized` returns."""
        self._request("start", payload)

    def complete(self, payload: object = None) -> None:
        """Complete this work item once `on_started` returns."""
        self._request("complete", payload)

    def fail(self, payload: object = None) -> None:
        self._request("fail", payload)

    def cancel(self, payload: object = None) -> None:
        self._request("cancel", payload)

    def _request(self, action: str, payload: object) -> None:
        if self._trigger is None or action not in self._allowed:
            where = "on_initialized" if action == "start" else "on_started"
            raise TasquencerError(
                f"work item {self.id}: ctx.work_item.{action}() requests an automatic "
                f"transition and is only available in {where}"
            )
        self._trigger.request(action, payload, self.id)


class WorkItemActivityCtx(_ElementContext):
    __slots__ = ("parent", "work_item")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentTask,
        work_item: WorkItemHandle,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.parent = parent
        self.work_item = work_item


class WorkItemActor:
    """`ctx.work_item` in a work item action callback: performs that action's transition (and,
    in the initialize action, offers the work item)."""

    __slots__ = ("_offer", "_perform", "_work_item_id", "action", "name")

    def __init__(
        self,
        name: str,
        action: str,
        perform: Callable[[], str],
        work_item_id: str | None,
        offer: OfferWriter | None = None,
    ) -> None:
        self.name = name
        self.action = action
        self._perform = perform
        self._work_item_id = work_item_id
        self._offer = offer

    def offer(self, offer: Offer) -> None:
        """Create the work item if needed and offer it (replaces the builder's offer)."""
        if self._offer is None:
            raise AttributeError(
                f"ctx.work_item.offer is not available in the {self.action} action of work "
                f"item {self.name!r}; offer a work item in its initialize action or "
                "on_initialized"
            )
        self._offer(offer)

    @property
    def id(self) -> str:
        if self._work_item_id is None:
            return self._perform()
        return self._work_item_id

    def initialize(self) -> str:
        return self._run("initialize")

    def start(self) -> str:
        return self._run("start")

    def complete(self) -> str:
        return self._run("complete")

    def fail(self) -> str:
        return self._run("fail")

    def cancel(self) -> str:
        return self._run("cancel")

    def reset(self) -> str:
        return self._run("reset")

    def _run(self, name: str) -> str:
        if name != self.action:
            raise AttributeError(
                f"ctx.work_item.{name} is not available in the {self.action} action of work "
                f"item {self.name!r}; it offers ctx.work_item.{self.action}()"
            )
        return self._perform()


class WorkItemActionCtx(_ElementContext):
    __slots__ = ("parent", "work_item")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentTask,
        work_item: WorkItemActor,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.parent = parent
        self.work_item = work_item


def _change(change: StateChange | None) -> StateChange:
    if change is None:
        raise AttributeError("only the state-changed activities report a child transition")
    return change


# --- migrations ------------------------------------------------------------------------------


class MigrationInitializerCtx(_ElementContext):
    __slots__ = ("migrating_from_workflow", "workflow")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        workflow: WorkflowInfo,
        migrating_from: WorkflowInfo,
    ) -> None:
        super().__init__(ex, caller, scope)
        self.workflow = workflow
        self.migrating_from_workflow = migrating_from


class MigrationFinalizerCtx(_ElementContext):
    __slots__ = ("migrating_from_workflow", "result", "workflow")

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        workflow: WorkflowInfo,
        migrating_from: WorkflowInfo,
        result: MigrationResult,
    ) -> None:
        super().__init__(ex, caller, ScheduleScope.refused("a migration finalizer"))
        self.workflow = workflow
        self.migrating_from_workflow = migrating_from
        self.result = result


class _MigratorCtx(TaskCtx):
    __slots__ = ("migrating_from_workflow",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        migrating_from: WorkflowInfo,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task)
        self.migrating_from_workflow = migrating_from


class WorkItemMigratorCtx(_MigratorCtx):
    __slots__ = ("work_item",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        migrating_from: WorkflowInfo,
        work_item: TaskWorkItems,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task, migrating_from)
        self.work_item = work_item


class CompositeMigratorCtx(_MigratorCtx):
    __slots__ = ("workflow",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        migrating_from: WorkflowInfo,
        workflow: ChildWorkflows,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task, migrating_from)
        self.workflow = workflow


class DynamicMigratorCtx(_MigratorCtx):
    __slots__ = ("workflow",)

    def __init__(
        self,
        ex: Execution,
        caller: Caller,
        scope: ScheduleScope,
        parent: ParentWorkflow,
        task: TaskHandle,
        migrating_from: WorkflowInfo,
        workflow: DynamicChildWorkflows,
    ) -> None:
        super().__init__(ex, caller, scope, parent, task, migrating_from)
        self.workflow = workflow
