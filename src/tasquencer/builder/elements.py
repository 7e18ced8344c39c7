"""Builders of work items and of the four task kinds. Each builder is immutable: every
`with_*` call returns a new builder, so a builder can be shared between workflows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, Self, TypeVar

from tasquencer.builder.actions import WorkItemActionsBuilder
from tasquencer.builder.activities import (
    COMPOSITE_TASK_ACTIVITIES,
    DUMMY_TASK_ACTIVITIES,
    TASK_ACTIVITIES,
    WORK_ITEM_ACTIVITIES,
    Activities,
)
from tasquencer.builder.names import element_name
from tasquencer.contexts import (
    ChildWorkflowStateChangedContext,
    CompositePolicyContext,
    CompositeTaskActivityContext,
    CompositeTaskTeardownContext,
    DummyTaskActivityContext,
    DynamicChildWorkflowStateChangedContext,
    DynamicCompositePolicyContext,
    DynamicCompositeTaskActivityContext,
    DynamicCompositeTaskTeardownContext,
    PolicyDecision,
    TaskActivityContext,
    TaskPolicyContext,
    TaskTeardownContext,
    WorkItemActivityContext,
    WorkItemStateChangedContext,
    WorkItemTeardownContext,
)
from tasquencer.errors import TaskInvalidJoinTypeError
from tasquencer.records import Offer

if TYPE_CHECKING:
    from tasquencer.builder.workflow import WorkflowBuilder

JoinType = Literal["and", "xor", "or"]
SplitType = Literal["and", "xor", "or"]
JOIN_TYPES: tuple[JoinType, ...] = ("and", "xor", "or")
SPLIT_TYPES: tuple[SplitType, ...] = ("and", "xor", "or")
TaskKind = Literal["task", "composite", "dynamic_composite", "dummy"]
DEFAULT_STATS_SHARDS = 8

Ctx = TypeVar("Ctx")
PolicyCtx = TypeVar("PolicyCtx")
TeardownCtx = TypeVar("TeardownCtx")
ChangedCtx = TypeVar("ChangedCtx")
# A callback `(ctx) -> None`; what it returns is ignored.
On = Callable[[Ctx], object] | None
# How policies are kept once their types have been checked at the builder.
Policy = Callable[[Any], object]
# A work item's offer: fixed, or computed when the work item is created (None: not offered).
OfferSource = Offer | Callable[[WorkItemActivityContext], Offer | None]


@dataclass(frozen=True, slots=True)
class WorkItemBuilder:
    name: str
    actions: WorkItemActionsBuilder = field(default_factory=WorkItemActionsBuilder)
    activities: Activities = field(default_factory=Activities)
    description: str | None = None
    offer: OfferSource | None = None

    def with_offer(self, offer: OfferSource) -> WorkItemBuilder:
        """Offer each work item when it is created, before its `on_initialized`:
        `tq.Offer.to_scope("er:triage:write", title=...)`, or a function of the work item's
        ctx returning the offer (None: not offered). Its queue entry is withdrawn when the
        work item completes, fails or is canceled."""
        if not isinstance(offer, Offer) and not callable(offer):
            raise TypeError(
                "with_offer takes a tq.Offer or a function `(ctx) -> tq.Offer | None`, "
                f"got {offer!r}"
            )
        return replace(self, offer=offer)

    def with_actions(self, actions: WorkItemActionsBuilder) -> WorkItemBuilder:
        if not isinstance(actions, WorkItemActionsBuilder):
            raise TypeError("with_actions expects Builder.work_item_actions()")
        return replace(self, actions=actions)

    def with_activities(
        self,
        *,
        on_initialized: On[WorkItemActivityContext] = None,
        on_started: On[WorkItemActivityContext] = None,
        on_completed: On[WorkItemTeardownContext] = None,
        on_failed: On[WorkItemTeardownContext] = None,
        on_canceled: On[WorkItemTeardownContext] = None,
        on_reset: On[WorkItemTeardownContext] = None,
    ) -> WorkItemBuilder:
        given = dict(
            on_initialized=on_initialized,
            on_started=on_started,
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
            on_reset=on_reset,
        )
        return replace(self, activities=self.activities.merged(WORK_ITEM_ACTIVITIES, given))

    def with_description(self, description: str) -> WorkItemBuilder:
        return replace(self, description=description)


@dataclass(frozen=True, slots=True)
class _TaskBuilderBase:
    join: JoinType = "and"
    split: SplitType = "and"
    activities: Activities = field(default_factory=Activities)
    description: str | None = None

    def with_join_type(self, join: JoinType) -> Self:
        if join not in JOIN_TYPES:
            raise TaskInvalidJoinTypeError(f"join type must be one of {JOIN_TYPES}, got {join!r}")
        return replace(self, join=join)

    def with_split_type(self, split: SplitType) -> Self:
        if split not in SPLIT_TYPES:
            raise TaskInvalidJoinTypeError(
                f"split type must be one of {SPLIT_TYPES}, got {split!r}"
            )
        return replace(self, split=split)

    def with_description(self, description: str) -> Self:
        return replace(self, description=description)


@dataclass(frozen=True, slots=True)
class _PolicyTaskBuilder(_TaskBuilderBase, Generic[PolicyCtx]):
    policy: Policy | None = None
    stats_shards: int = DEFAULT_STATS_SHARDS

    def with_policy(self, policy: Callable[[PolicyCtx], PolicyDecision]) -> Self:
        """Decide, after a child's state changes, whether the task continues, completes or
        fails (`tq.default_task_policy` / `tq.default_composite_policy` are the defaults)."""
        if not callable(policy):
            raise TypeError("a policy is a callable `(ctx) -> 'continue' | 'complete' | 'fail'`")
        return replace(self, policy=policy)

    def with_stats_shards(self, shards: int) -> Self:
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise ValueError(f"stats shards must be a positive integer, got {shards!r}")
        return replace(self, stats_shards=shards)


@dataclass(frozen=True, slots=True)
class TaskBuilder(_PolicyTaskBuilder[TaskPolicyContext]):
    """A task whose work is done by work items of one type."""

    work_item: WorkItemBuilder | None = None
    kind: TaskKind = "task"

    def with_activities(
        self,
        *,
        on_enabled: On[TaskActivityContext] = None,
        on_started: On[TaskActivityContext] = None,
        on_completed: On[TaskTeardownContext] = None,
        on_failed: On[TaskTeardownContext] = None,
        on_canceled: On[TaskTeardownContext] = None,
        on_disabled: On[TaskTeardownContext] = None,
        on_work_item_state_changed: On[WorkItemStateChangedContext] = None,
    ) -> TaskBuilder:
        given = dict(
            on_enabled=on_enabled,
            on_started=on_started,
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
            on_disabled=on_disabled,
            on_work_item_state_changed=on_work_item_state_changed,
        )
        return replace(self, activities=self.activities.merged(TASK_ACTIVITIES, given))


@dataclass(frozen=True, slots=True)
class _ChildWorkflowTaskBuilder(
    _PolicyTaskBuilder[PolicyCtx], Generic[PolicyCtx, Ctx, TeardownCtx, ChangedCtx]
):
    """What composite and dynamic composite tasks share: child workflows, and their activity."""

    def with_activities(
        self,
        *,
        on_enabled: On[Ctx] = None,
        on_started: On[Ctx] = None,
        on_completed: On[TeardownCtx] = None,
        on_failed: On[TeardownCtx] = None,
        on_canceled: On[TeardownCtx] = None,
        on_disabled: On[TeardownCtx] = None,
        on_workflow_state_changed: On[ChangedCtx] = None,
    ) -> Self:
        given = dict(
            on_enabled=on_enabled,
            on_started=on_started,
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
            on_disabled=on_disabled,
            on_workflow_state_changed=on_workflow_state_changed,
        )
        return replace(self, activities=self.activities.merged(COMPOSITE_TASK_ACTIVITIES, given))


@dataclass(frozen=True, slots=True)
class CompositeTaskBuilder(
    _ChildWorkflowTaskBuilder[
        CompositePolicyContext,
        CompositeTaskActivityContext,
        CompositeTaskTeardownContext,
        ChildWorkflowStateChangedContext,
    ]
):
    """A task whose work is done by child workflows of one definition."""

    workflow: WorkflowBuilder | None = None
    kind: TaskKind = "composite"


@dataclass(frozen=True, slots=True)
class DynamicCompositeTaskBuilder(
    _ChildWorkflowTaskBuilder[
        DynamicCompositePolicyContext,
        DynamicCompositeTaskActivityContext,
        DynamicCompositeTaskTeardownContext,
        DynamicChildWorkflowStateChangedContext,
    ]
):
    """A task whose work is done by child workflows chosen at run time among several definitions."""

    workflows: tuple[WorkflowBuilder, ...] = ()
    kind: TaskKind = "dynamic_composite"


@dataclass(frozen=True, slots=True)
class DummyTaskBuilder(_TaskBuilderBase):
    """A routing task without work: it starts and completes as soon as it is enabled."""

    kind: TaskKind = "dummy"

    def with_activities(
        self,
        *,
        on_enabled: On[DummyTaskActivityContext] = None,
        on_started: On[DummyTaskActivityContext] = None,
        on_completed: On[DummyTaskActivityContext] = None,
        on_failed: On[DummyTaskActivityContext] = None,
        on_canceled: On[DummyTaskActivityContext] = None,
        on_disabled: On[DummyTaskActivityContext] = None,
    ) -> DummyTaskBuilder:
        given = dict(
            on_enabled=on_enabled,
            on_started=on_started,
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
            on_disabled=on_disabled,
        )
        return replace(self, activities=self.activities.merged(DUMMY_TASK_ACTIVITIES, given))


AnyTaskBuilder = TaskBuilder | CompositeTaskBuilder | DynamicCompositeTaskBuilder | DummyTaskBuilder


def task(work_item: WorkItemBuilder | str) -> TaskBuilder:
    if isinstance(work_item, str):
        work_item = WorkItemBuilder(element_name(work_item, "work item"))
    if not isinstance(work_item, WorkItemBuilder):
        raise TypeError("Builder.task expects a work item: Builder.task(Builder.work_item(name))")
    return TaskBuilder(work_item=work_item)


def composite_task(workflow: WorkflowBuilder) -> CompositeTaskBuilder:
    from tasquencer.builder.workflow import WorkflowBuilder

    if not isinstance(workflow, WorkflowBuilder):
        raise TypeError("Builder.composite_task expects a child workflow: Builder.workflow(name)")
    return CompositeTaskBuilder(workflow=workflow)


def dynamic_composite_task(workflows: Sequence[WorkflowBuilder]) -> DynamicCompositeTaskBuilder:
    from tasquencer.builder.workflow import WorkflowBuilder

    children = tuple(workflows)
    if not children or not all(isinstance(w, WorkflowBuilder) for w in children):
        raise TypeError("Builder.dynamic_composite_task expects a non-empty list of workflows")
    names = [w.name for w in children]
    if len(set(names)) != len(names):
        raise ValueError(f"dynamic composite child workflows must have distinct names: {names}")
    return DynamicCompositeTaskBuilder(workflows=children)
