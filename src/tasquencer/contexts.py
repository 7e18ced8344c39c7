"""What your callbacks receive: one typed `ctx` per place, and the values they carry.

The engine implements these protocols; annotate your callbacks with them and your editor
completes `ctx.`, and mypy catches a callback passed where it does not fit:

    work item action (`Builder.work_item_actions()`) WorkItemActionContext
    work item activity (`on_initialized`, ...)       WorkItemActivityContext
    task activity (`on_enabled`, ...)                TaskActivityContext
    task `on_work_item_state_changed`                WorkItemStateChangedContext
    composite task activity                          CompositeTaskActivityContext
    composite `on_workflow_state_changed`            ChildWorkflowStateChangedContext
    dynamic composite task activity                  DynamicCompositeTaskActivityContext
    dynamic composite `on_workflow_state_changed`    DynamicChildWorkflowStateChangedContext
    dummy task activity                              DummyTaskActivityContext
    workflow activity                                WorkflowActivityContext
    workflow initialize action                       WorkflowInitializeContext
    workflow cancel action                           WorkflowCancelContext
    router (`.route(fn)`)                            RouterContext
    policy of a task                                 TaskPolicyContext
    policy of a composite task                       CompositePolicyContext
    policy of a dynamic composite task               DynamicCompositePolicyContext
    `@app.mutation` / `@app.query`                   MutationContext / QueryContext
    `@app.action`, `def` / `async def`               ActionContext / AsyncActionContext

Every context that runs inside a transaction is a `TransactionContext`: pass it as `ctx=ctx` to
an API call to run that call inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol, TypeVar, overload

from sqlalchemy.orm import Session

from tasquencer.records import JobRecord, Offer

ExecutionMode = Literal["normal", "fastForward"]
Path = tuple[str, ...]
R = TypeVar("R")
# A registered function (or API method) given as itself or by its registered name.
Schedulable = Callable[..., object] | str


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """The person or agent behind a call, as the app's user provider describes them.

    `is_agent`: an AI agent or another system, which claims work offered to agents;
    `attributes`: whatever else the provider knows (policies can read it).
    """

    id: str
    name: str | None = None
    is_agent: bool = False
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"a user's id is a non-empty str, got {self.id!r}")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call comes from: internal (server code, jobs, the engine itself) or external
    (the public API), the user when known, and a correlation id tying related calls together."""

    is_internal: bool
    user: User | None = None
    correlation_id: str | None = None

    def as_internal(self) -> Caller:
        """The same caller, for what the engine does on its behalf (auto-triggers, children)."""
        if self.is_internal:
            return self
        return Caller(True, self.user, self.correlation_id)


INTERNAL = Caller(is_internal=True)
EXTERNAL = Caller(is_internal=False)


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class TaskInfo:
    name: str
    generation: int
    path: Path


@dataclass(frozen=True, slots=True)
class ParentWorkflow:
    """`ctx.parent` of a task, its router and its policy: the workflow the task belongs to."""

    workflow: WorkflowInfo


@dataclass(frozen=True, slots=True)
class ParentTask(ParentWorkflow):
    """`ctx.parent` of a work item or a child workflow: the workflow and the task that own it."""

    task: TaskInfo


@dataclass(frozen=True, slots=True)
class TaskStats:
    """Counts of one task generation's children (work items or child workflows) by state."""

    total: int
    initialized: int
    started: int
    completed: int
    failed: int
    canceled: int


@dataclass(frozen=True, slots=True)
class Transition:
    prev_state: str
    next_state: str


@dataclass(frozen=True, slots=True)
class Route:
    """A route to one outgoing condition (a task reached directly goes through `A__to__B`)."""

    condition: str
    label: str


class PolicyResult(StrEnum):
    CONTINUE = "continue"
    COMPLETE = "complete"
    FAIL = "fail"


PolicyDecision = PolicyResult | Literal["continue", "complete", "fail"]


class MigrationMode(StrEnum):
    """What a task migrator decides for a task of the new version as the replay enables it."""

    FAST_FORWARD = "fastForward"  # its work is done: complete it silently, tokens move on
    CONTINUE = "continue"  # it goes on as usual (its children, its on_enabled)


MigrationDecision = MigrationMode | Literal["fastForward", "continue"]


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """`ctx.result` of a migration finalizer: the state the migrated instance ended in."""

    state: Literal["completed", "failed", "canceled"]


# --- what every context offers ---------------------------------------------------------------


class Scheduler(Protocol):
    """`ctx.scheduler`: jobs that run later in a worker (inside a transaction: rows of it)."""

    def run_after(
        self, delay: float | timedelta, function: Schedulable, /, **kwargs: object
    ) -> str:
        """Run `function(**kwargs)` `delay` seconds from now; returns the job id."""
        ...

    def run_at(self, when: datetime, function: Schedulable, /, **kwargs: object) -> str:
        """Run `function(**kwargs)` at `when` (timezone-aware); returns the job id."""
        ...

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a pending one never runs."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...


class TransactionContext(Protocol):
    """A context running inside one transaction; pass it as `ctx=ctx` to API calls."""

    @property
    def db(self) -> Session:
        """The SQLAlchemy `Session` of the running transaction: your rows commit with the
        engine's."""
        ...

    @property
    def is_internal(self) -> bool: ...

    @property
    def caller(self) -> Caller: ...

    @property
    def user(self) -> User | None: ...

    def now(self) -> datetime:
        """The app clock's time (timezone-aware UTC); use it instead of the system clock."""
        ...


class QueryContext(TransactionContext, Protocol):
    """`ctx` of an `@app.query`: a read-only transaction."""


class MutationContext(TransactionContext, Protocol):
    """`ctx` of an `@app.mutation`: one transaction, with the scheduler."""

    @property
    def scheduler(self) -> Scheduler: ...


class ElementContext(MutationContext, Protocol):
    """What the callbacks of workflow elements share."""

    @property
    def execution_mode(self) -> ExecutionMode: ...


class LifecycleContext(ElementContext, Protocol):
    """An element's active lifecycle (not its teardown): jobs can be tied to the element."""

    def register_scheduled(self, job_id: str) -> str:
        """Tie a job to this element: it is canceled when the element is torn down."""
        ...


class InWorkflowContext(ElementContext, Protocol):
    """A callback of something inside a workflow (a task, a work item, a router, a policy):
    `ctx.parent.workflow` is the workflow it belongs to."""

    @property
    def parent(self) -> ParentWorkflow: ...


# --- workflows -------------------------------------------------------------------------------


class WorkflowTeardownContext(ElementContext, Protocol):
    """A workflow's `on_completed`, `on_failed`, `on_canceled`: `ctx.workflow.id/name`;
    `ctx.parent` is None for a root."""

    @property
    def workflow(self) -> WorkflowInfo: ...

    @property
    def parent(self) -> ParentTask | None: ...


class WorkflowActivityContext(WorkflowTeardownContext, LifecycleContext, Protocol):
    """A workflow's `on_initialized` and `on_started`."""


class WorkflowInitializer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def id(self) -> str:
        """The workflow's id (creates it if the action did not yet)."""
        ...

    def initialize(self) -> str:
        """Create the workflow now (idempotent) and return its id."""
        ...


class WorkflowInitializeContext(LifecycleContext, Protocol):
    """A workflow's initialize action."""

    @property
    def workflow(self) -> WorkflowInitializer: ...

    @property
    def parent(self) -> ParentTask | None: ...


class WorkflowCanceler(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    def cancel(self) -> None:
        """Mark the workflow canceled now (idempotent); the teardown follows the action."""
        ...


class WorkflowCancelContext(ElementContext, Protocol):
    """A workflow's cancel action."""

    @property
    def workflow(self) -> WorkflowCanceler: ...

    @property
    def parent(self) -> ParentTask | None: ...


# --- work items ------------------------------------------------------------------------------


class WorkItemInfo(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class WorkItemActionHandle(WorkItemInfo, Protocol):
    """`ctx.work_item` in a work item action: the action's own transition, performed now.

    Only the method of the running action works (`complete()` in the complete action, ...);
    the others raise `AttributeError`. Each returns the work item's id.
    """

    def initialize(self) -> str: ...

    def start(self) -> str: ...

    def complete(self) -> str: ...

    def fail(self) -> str: ...

    def cancel(self) -> str: ...

    def reset(self) -> str: ...

    def offer(self, offer: Offer) -> None:
        """Offer the work item (creating it first) in its initialize action; replaces the
        builder's offer."""
        ...


class WorkItemActionContext(InWorkflowContext, LifecycleContext, Protocol):
    """A work item action callback `(ctx, payload) -> None`.

    `ctx.register_scheduled` works in the initialize and start actions; the others end the
    work item's active life and refuse it.
    """

    @property
    def work_item(self) -> WorkItemActionHandle: ...

    @property
    def parent(self) -> ParentTask: ...


class WorkItemTeardownContext(InWorkflowContext, Protocol):
    """A work item's `on_completed`, `on_failed`, `on_canceled`, `on_reset`."""

    @property
    def work_item(self) -> WorkItemInfo: ...

    @property
    def parent(self) -> ParentTask: ...


class WorkItemActivityHandle(WorkItemInfo, Protocol):
    """`ctx.work_item` in `on_initialized` / `on_started`: auto-triggers, run once the activity
    returns: `start()` in `on_initialized`; `complete()`, `fail()` or `cancel()` in
    `on_started`; one per activity.
    """

    def start(self, payload: object = None) -> None: ...

    def complete(self, payload: object = None) -> None: ...

    def fail(self, payload: object = None) -> None: ...

    def cancel(self, payload: object = None) -> None: ...

    def offer(self, offer: Offer) -> None:
        """Offer the work item, in `on_initialized` (replaces the builder's offer)."""
        ...


class WorkItemActivityContext(WorkItemTeardownContext, LifecycleContext, Protocol):
    """A work item's `on_initialized` and `on_started`."""

    @property
    def work_item(self) -> WorkItemActivityHandle: ...


# --- tasks -----------------------------------------------------------------------------------


class TaskHandle(Protocol):
    """`ctx.task`: the task generation the callback runs for."""

    @property
    def name(self) -> str: ...

    @property
    def generation(self) -> int: ...

    @property
    def path(self) -> Path: ...

    def get_stats(self) -> TaskStats:
        """Counts of this generation's children by state."""
        ...


class TaskElementContext(InWorkflowContext, Protocol):
    @property
    def task(self) -> TaskHandle: ...


class TaskWorkItemsView(Protocol):
    """What a task's teardown activities, policy and router see of a generation's work items."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path: ...

    def get_all_work_item_ids(self) -> list[str]: ...


class TaskWorkItems(TaskWorkItemsView, Protocol):
    """`ctx.work_item` in a task's `on_enabled`, `on_started`, `on_work_item_state_changed`."""

    def initialize(self, payload: object = None) -> str:
        """Create a work item in this task generation; its auto-triggers run after the
        activity returns."""
        ...


class WorkItemChange(TaskWorkItems, Protocol):
    """`ctx.work_item` in `on_work_item_state_changed`: the work item that changed."""

    @property
    def id(self) -> str: ...

    @property
    def prev_state(self) -> str: ...

    @property
    def next_state(self) -> str: ...


class TaskTeardownContext(TaskElementContext, Protocol):
    """A task's `on_completed`, `on_failed`, `on_canceled`, `on_disabled`."""

    @property
    def work_item(self) -> TaskWorkItemsView: ...


class TaskActivityContext(TaskTeardownContext, LifecycleContext, Protocol):
    """A task's `on_enabled` and `on_started`."""

    @property
    def work_item(self) -> TaskWorkItems: ...


class WorkItemStateChangedContext(TaskActivityContext, Protocol):
    """A task's `on_work_item_state_changed` (`register_scheduled` and `initialize` are
    refused while the task is being torn down)."""

    @property
    def work_item(self) -> WorkItemChange: ...


class ChildWorkflowsView(Protocol):
    """What a composite task's teardown, policy and router see of its child workflows."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path: ...

    def get_all_workflow_ids(self) -> list[str]: ...


class ChildWorkflows(ChildWorkflowsView, Protocol):
    """`ctx.workflow` in a composite task's active activities."""

    def initialize(self, payload: object = None) -> str:
        """Create and initialize a child workflow in this task generation; returns its id."""
        ...


class ChildWorkflowChange(ChildWorkflows, Protocol):
    """`ctx.workflow` in `on_workflow_state_changed`: the child workflow that changed."""

    @property
    def id(self) -> str: ...

    @property
    def prev_state(self) -> str: ...

    @property
    def next_state(self) -> str: ...


class CompositeTaskTeardownContext(TaskElementContext, Protocol):
    """A composite task's `on_completed`, `on_failed`, `on_canceled`, `on_disabled`."""

    @property
    def workflow(self) -> ChildWorkflowsView: ...


class CompositeTaskActivityContext(CompositeTaskTeardownContext, LifecycleContext, Protocol):
    """A composite task's `on_enabled` and `on_started`."""

    @property
    def workflow(self) -> ChildWorkflows: ...


class ChildWorkflowStateChangedContext(CompositeTaskActivityContext, Protocol):
    """A composite task's `on_workflow_state_changed`."""

    @property
    def workflow(self) -> ChildWorkflowChange: ...


class ChildInitializer(Protocol):
    def __call__(self, payload: object = None) -> str:
        """Create and initialize a child workflow of this name; returns its id."""
        ...


class DynamicInitializers(Protocol):
    """`ctx.workflow.initialize` of a dynamic composite task: `initialize["review"](payload)`
    or `initialize.review(payload)`."""

    def __getitem__(self, name: str) -> ChildInitializer: ...

    def __getattr__(self, name: str) -> ChildInitializer: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...


class DynamicChildWorkflowsView(Protocol):
    @property
    def paths(self) -> Mapping[str, Path]: ...

    @property
    def names(self) -> Mapping[str, str]: ...

    def get_all_workflow_ids(self) -> list[str]: ...


class DynamicChildWorkflows(DynamicChildWorkflowsView, Protocol):
    """`ctx.workflow` in a dynamic composite task's active activities: one initializer per
    child workflow name."""

    @property
    def initialize(self) -> DynamicInitializers: ...


class DynamicChildWorkflowChange(DynamicChildWorkflows, Protocol):
    """`ctx.workflow` in a dynamic composite's `on_workflow_state_changed`."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str:
        """The name of the child workflow that changed."""
        ...

    @property
    def prev_state(self) -> str: ...

    @property
    def next_state(self) -> str: ...


class DynamicCompositeTaskTeardownContext(TaskElementContext, Protocol):
    """A dynamic composite task's `on_completed`, `on_failed`, `on_canceled`, `on_disabled`."""

    @property
    def workflow(self) -> DynamicChildWorkflowsView: ...


class DynamicCompositeTaskActivityContext(
    DynamicCompositeTaskTeardownContext, LifecycleContext, Protocol
):
    """A dynamic composite task's `on_enabled` and `on_started`."""

    @property
    def workflow(self) -> DynamicChildWorkflows: ...


class DynamicChildWorkflowStateChangedContext(DynamicCompositeTaskActivityContext, Protocol):
    """A dynamic composite task's `on_workflow_state_changed`."""

    @property
    def workflow(self) -> DynamicChildWorkflowChange: ...


class DummyTaskActivityContext(TaskElementContext, Protocol):
    """A dummy task's activities (no children, no jobs: it completes as soon as enabled)."""


# --- migrations ------------------------------------------------------------------------------


class MigrationInitializerContext(LifecycleContext, Protocol):
    """A migration's initializer: runs once, in the migration's transaction, after the new
    instance exists and before any of its tasks is enabled. Re-link your rows here."""

    @property
    def workflow(self) -> WorkflowInfo:
        """The new instance."""
        ...

    @property
    def migrating_from_workflow(self) -> WorkflowInfo:
        """The instance being migrated (now canceled)."""
        ...


class MigrationFinalizerContext(ElementContext, Protocol):
    """A migration's finalizer: runs when the migrated instance completes, fails or is
    canceled (`ctx.result.state`)."""

    @property
    def workflow(self) -> WorkflowInfo: ...

    @property
    def migrating_from_workflow(self) -> WorkflowInfo: ...

    @property
    def result(self) -> MigrationResult: ...


class TaskMigratorContext(TaskElementContext, LifecycleContext, Protocol):
    """A task migrator: called whenever a task of a migrated instance is enabled; returns
    `MigrationMode.FAST_FORWARD` (the work is done) or `MigrationMode.CONTINUE`."""

    @property
    def migrating_from_workflow(self) -> WorkflowInfo: ...


class WorkItemTaskMigratorContext(TaskMigratorContext, Protocol):
    """A migrator of a task with work items: it may create them (then it must continue)."""

    @property
    def work_item(self) -> TaskWorkItems: ...


class CompositeTaskMigratorContext(TaskMigratorContext, Protocol):
    """A migrator of a composite task: it may create the child workflow (then continue)."""

    @property
    def workflow(self) -> ChildWorkflows: ...


class DynamicCompositeTaskMigratorContext(TaskMigratorContext, Protocol):
    """A migrator of a dynamic composite task: `ctx.workflow.initialize["Name"](payload)`."""

    @property
    def workflow(self) -> DynamicChildWorkflows: ...


TaskMigrator = (
    Callable[[WorkItemTaskMigratorContext], MigrationDecision]
    | Callable[[CompositeTaskMigratorContext], MigrationDecision]
    | Callable[[DynamicCompositeTaskMigratorContext], MigrationDecision]
)


# --- routers and policies --------------------------------------------------------------------


class RouteBuilder(Protocol):
    def to_task(self, name: str) -> Route:
        """The route to a task this one flows into directly (through `A__to__B`)."""
        ...

    def to_condition(self, name: str) -> Route: ...


class RouterContext(TaskElementContext, Protocol):
    """A router of an XOR split (returns one route) or an OR split (returns a non-empty list).

    Which of `work_item` (task), `workflow` (composite) and `workflows` (dynamic composite) is
    set depends on the task's kind; the others are None.
    """

    @property
    def route(self) -> RouteBuilder: ...

    @property
    def work_item(self) -> TaskWorkItemsView | None: ...

    @property
    def workflow(self) -> ChildWorkflowsView | None: ...

    @property
    def workflows(self) -> Sequence[ChildWorkflowsView] | None: ...


class PolicyContext(TaskElementContext, Protocol):
    """What every completion policy sees: the child transition and the generation's counts."""

    @property
    def transition(self) -> Transition: ...


class TaskPolicyContext(PolicyContext, Protocol):
    @property
    def work_item(self) -> TaskWorkItemsView: ...


class CompositePolicyContext(PolicyContext, Protocol):
    @property
    def workflow(self) -> ChildWorkflowsView: ...


class DynamicCompositePolicyContext(PolicyContext, Protocol):
    @property
    def workflows(self) -> Sequence[ChildWorkflowsView]: ...


Router = Callable[[RouterContext], "Route | Sequence[Route]"]


# --- authorization ---------------------------------------------------------------------------


class AuthorizationContext(TransactionContext, Protocol):
    """What an action's access policy sees; it returns True to allow the call.

    Policies run for external calls only, before the action changes anything. `scopes` and
    `groups` (names) are the user's, resolved once per call (empty without a user).
    """

    @property
    def action(self) -> str:
        """The action called: "initialize", "start", "complete", "fail", "cancel", "reset"."""
        ...

    @property
    def payload(self) -> object:
        """The action's payload, validated by its schema."""
        ...

    @property
    def work_item(self) -> WorkItemInfo | None:
        """The work item acted on (None for workflow actions and a work item's initialize)."""
        ...

    @property
    def workflow(self) -> WorkflowInfo | None:
        """The workflow acted on, or the work item's; None for a new root workflow."""
        ...

    @property
    def claimed_by(self) -> str | None:
        """The id of the user holding the work item's claim, if any."""
        ...

    @property
    def scopes(self) -> frozenset[str]: ...

    @property
    def groups(self) -> frozenset[str]: ...

    def has_scope(self, scope: str) -> bool: ...


AccessPolicy = Callable[[AuthorizationContext], bool]


# --- actions (outside any transaction) -------------------------------------------------------


class ActionScheduler(Protocol):
    """`ctx.scheduler` in an action: each call commits on its own."""

    def run_after(
        self, delay: float | timedelta, function: Schedulable, /, **kwargs: object
    ) -> str: ...

    def run_at(self, when: datetime, function: Schedulable, /, **kwargs: object) -> str: ...

    def cancel(self, job_id: str) -> None: ...

    def get(self, job_id: str) -> JobRecord | None: ...


class _ActionBase(Protocol):
    @property
    def job_id(self) -> str | None:
        """The job this action runs as (None when called directly)."""
        ...

    @property
    def attempt(self) -> int: ...

    @property
    def max_attempts(self) -> int: ...

    @property
    def is_last_attempt(self) -> bool: ...

    @property
    def is_internal(self) -> bool: ...

    @property
    def scheduler(self) -> ActionScheduler: ...

    def now(self) -> datetime: ...


class ActionContext(_ActionBase, Protocol):
    """`ctx` of a sync `@app.action`: I/O is allowed; the engine is reached through calls."""

    @overload
    def run_mutation(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    def run_mutation(self, function: str, /, **kwargs: object) -> object: ...

    @overload
    def run_query(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    def run_query(self, function: str, /, **kwargs: object) -> object: ...

    @overload
    def run_action(self, function: Callable[..., Awaitable[R]], /, **kwargs: object) -> R: ...
    @overload
    def run_action(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    def run_action(self, function: str, /, **kwargs: object) -> object: ...


class AsyncActionContext(_ActionBase, Protocol):
    """`ctx` of an `async def` `@app.action`: the same calls, awaited."""

    @overload
    async def run_mutation(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    async def run_mutation(self, function: str, /, **kwargs: object) -> object: ...

    @overload
    async def run_query(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    async def run_query(self, function: str, /, **kwargs: object) -> object: ...

    @overload
    async def run_action(self, function: Callable[..., Awaitable[R]], /, **kwargs: object) -> R: ...
    @overload
    async def run_action(self, function: Callable[..., R], /, **kwargs: object) -> R: ...
    @overload
    async def run_action(self, function: str, /, **kwargs: object) -> object: ...
