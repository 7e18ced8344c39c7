"""Builders of work items and of the four task kinds. Each builder is immutable: every
`with_*` call returns a new builder, so a builder can be shared between workflows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Self

from tasquencer.builder.actions import WorkItemActionsBuilder
from tasquencer.builder.activities import (
    COMPOSITE_TASK_ACTIVITIES,
    DUMMY_TASK_ACTIVITIES,
    TASK_ACTIVITIES,
    WORK_ITEM_ACTIVITIES,
    Activities,
    Activity,
)
from tasquencer.net.model import JOIN_TYPES, SPLIT_TYPES, JoinType, SplitType

if TYPE_CHECKING:
    from tasquencer.builder.workflow import WorkflowBuilder

Policy = Callable[[Any], str]
TaskKind = Literal["task", "composite", "dynamic_composite", "dummy"]
DEFAULT_STATS_SHARDS = 8


@dataclass(frozen=True, slots=True)
class WorkItemBuilder:
    name: str
    actions: WorkItemActionsBuilder = field(default_factory=WorkItemActionsBuilder)
    activities: Activities = field(default_factory=Activities)
    description: str | None = None

    def with_actions(self, actions: WorkItemActionsBuilder) -> WorkItemBuilder:
        if not isinstance(actions, WorkItemActionsBuilder):
            raise TypeError("with_actions expects Builder.work_item_actions()")
        return replace(self, actions=actions)

    def with_activities(
        self,
        *,
        on_initialized: Activity | None = None,
        on_started: Activity | None = None,
        on_completed: Activity | None = None,
        on_failed: Activity | None = None,
        on_canceled: Activity | None = None,
        on_reset: Activity | None = None,
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
            raise ValueError(f"join type must be one of {JOIN_TYPES}, got {join!r}")
        return replace(self, join=join)

    def with_split_type(self, split: SplitType) -> Self:
        if split not in SPLIT_TYPES:
            raise ValueError(f"split type must be one of {SPLIT_TYPES}, got {split!r}")
        return replace(self, split=split)

    def with_description(self, description: str) -> Self:
        return replace(self, description=description)


@dataclass(frozen=True, slots=True)
class _PolicyTaskBuilder(_TaskBuilderBase):
    policy: Policy | None = None
    stats_shards: int = DEFAULT_STATS_SHARDS

    def with_policy(self, policy: Policy) -> Self:
        if not callable(policy):
            raise TypeError("a policy is a callable `(ctx) -> 'continue' | 'complete' | 'fail'`")
        return replace(self, policy=policy)

    def with_stats_shards(self, shards: int) -> Self:
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise ValueError(f"stats shards must be a positive integer, got {shards!r}")
        return replace(self, stats_shards=shards)


@dataclass(frozen=True, slots=True)
class TaskBuilder(_PolicyTaskBuilder):
    """A task whose work is done by work items of one type."""

    work_item: WorkItemBuilder | None = None
    kind: TaskKind = "task"

    def with_activities(
        self,
        *,
        on_enabled: Activity | None = None,
        on_started: Activity | None = None,
        on_completed: Activity | None = None,
        on_failed: Activity | None = None,
        on_canceled: Activity | None = None,
        on_disabled: Activity | None = None,
        on_work_item_state_changed: Activity | None = None,
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
class _ChildWorkflowTaskBuilder(_PolicyTaskBuilder):
    """What composite and dynamic composite tasks share: child workflows, and their activity."""

    def with_activities(
        self,
        *,
        on_enabled: Activity | None = None,
        on_started: Activity | None = None,
        on_completed: Activity | None = None,
        on_failed: Activity | None = None,
        on_canceled: Activity | None = None,
        on_disabled: Activity | None = None,
        on_workflow_state_changed: Activity | None = None,
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
class CompositeTaskBuilder(_ChildWorkflowTaskBuilder):
    """A task whose work is done by child workflows of one definition."""

    workflow: WorkflowBuilder | None = None
    kind: TaskKind = "composite"


@dataclass(frozen=True, slots=True)
class DynamicCompositeTaskBuilder(_ChildWorkflowTaskBuilder):
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
        on_enabled: Activity | None = None,
        on_started: Activity | None = None,
        on_completed: Activity | None = None,
        on_failed: Activity | None = None,
        on_canceled: Activity | None = None,
        on_disabled: Activity | None = None,
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
        work_item = WorkItemBuilder(work_item)
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
