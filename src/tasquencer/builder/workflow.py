"""`Builder.workflow(name)`: conditions, tasks, flows, cancellation regions, actions, activities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tasquencer.builder.actions import WorkflowActionsBuilder
from tasquencer.builder.activities import WORKFLOW_ACTIVITIES, Activities
from tasquencer.builder.elements import (
    AnyTaskBuilder,
    CompositeTaskBuilder,
    DummyTaskBuilder,
    DynamicCompositeTaskBuilder,
    On,
    TaskBuilder,
)
from tasquencer.builder.names import element_name
from tasquencer.contexts import Router, WorkflowActivityContext, WorkflowTeardownContext

# How routers are kept once their types have been checked at the builder.
StoredRouter = Callable[[Any], object]
ConditionRole = Literal["start", "end", "plain"]
NodeKind = Literal["task", "condition"]


@dataclass(frozen=True, slots=True)
class ConditionDecl:
    name: str
    role: ConditionRole


@dataclass(frozen=True, slots=True)
class FlowDecl:
    """One `connect_condition` / `connect_task` call: a source and its targets, in order."""

    source: str
    source_kind: NodeKind
    targets: tuple[tuple[NodeKind, str], ...]
    router: StoredRouter | None = None


@dataclass(frozen=True, slots=True)
class RegionDecl:
    owner: str
    tasks: tuple[str, ...]
    conditions: tuple[str, ...]


class ConditionFlowBuilder:
    """Given to the `connect_condition` callback: `to.task("a").task("b")`."""

    def __init__(self) -> None:
        self.targets: list[tuple[NodeKind, str]] = []

    def task(self, name: str) -> ConditionFlowBuilder:
        self.targets.append(("task", _name(name, "task")))
        return self


class TaskFlowBuilder:
    """Given to the `connect_task` callback: `to.task("b").condition("c").route(router)`."""

    def __init__(self) -> None:
        self.targets: list[tuple[NodeKind, str]] = []
        self.router: StoredRouter | None = None

    def task(self, name: str) -> TaskFlowBuilder:
        self.targets.append(("task", _name(name, "task")))
        return self

    def condition(self, name: str) -> TaskFlowBuilder:
        self.targets.append(("condition", _name(name, "condition")))
        return self

    def route(self, router: Router) -> TaskFlowBuilder:
        if not callable(router):
            raise TypeError("a router is a callable `(ctx) -> Route | list[Route]`")
        self.router = router
        return self


class CancellationRegionBuilder:
    """Given to the `with_cancellation_region` callback: `cr.task("x").condition("c")`."""

    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.conditions: list[str] = []

    def task(self, name: str) -> CancellationRegionBuilder:
        self.tasks.append(_name(name, "task"))
        return self

    def condition(self, name: str) -> CancellationRegionBuilder:
        self.conditions.append(_name(name, "condition"))
        return self


@dataclass(frozen=True, slots=True)
class WorkflowBuilder:
    """An immutable workflow definition; checked when the app registers it."""

    name: str
    conditions: tuple[ConditionDecl, ...] = ()
    tasks: tuple[tuple[str, AnyTaskBuilder], ...] = ()
    flows: tuple[FlowDecl, ...] = ()
    regions: tuple[RegionDecl, ...] = ()
    actions: WorkflowActionsBuilder = field(default_factory=WorkflowActionsBuilder)
    activities: Activities = field(default_factory=Activities)
    description: str | None = None

    def start_condition(self, name: str) -> WorkflowBuilder:
        return self._with_condition(name, "start")

    def end_condition(self, name: str) -> WorkflowBuilder:
        return self._with_condition(name, "end")

    def condition(self, name: str) -> WorkflowBuilder:
        return self._with_condition(name, "plain")

    def task(self, name: str, builder: TaskBuilder) -> WorkflowBuilder:
        return self._with_task(name, builder, TaskBuilder, "Builder.task(...)")

    def composite_task(self, name: str, builder: CompositeTaskBuilder) -> WorkflowBuilder:
        return self._with_task(name, builder, CompositeTaskBuilder, "Builder.composite_task(...)")

    def dynamic_composite_task(
        self, name: str, builder: DynamicCompositeTaskBuilder
    ) -> WorkflowBuilder:
        return self._with_task(
            name, builder, DynamicCompositeTaskBuilder, "Builder.dynamic_composite_task(...)"
        )

    def dummy_task(self, name: str, builder: DummyTaskBuilder | None = None) -> WorkflowBuilder:
        return self._with_task(
            name, builder or DummyTaskBuilder(), DummyTaskBuilder, "Builder.dummy_task()"
        )

    def connect_condition(
        self, name: str, connect: Callable[[ConditionFlowBuilder], object]
    ) -> WorkflowBuilder:
        to = ConditionFlowBuilder()
        connect(to)
        flow = FlowDecl(_name(name, "condition"), "condition", tuple(to.targets))
        return replace(self, flows=(*self.flows, flow))

    def connect_task(
        self, name: str, connect: Callable[[TaskFlowBuilder], object]
    ) -> WorkflowBuilder:
        to = TaskFlowBuilder()
        connect(to)
        flow = FlowDecl(_name(name, "task"), "task", tuple(to.targets), to.router)
        return replace(self, flows=(*self.flows, flow))

    def with_cancellation_region(
        self, owner: str, region: Callable[[CancellationRegionBuilder], object]
    ) -> WorkflowBuilder:
        """Set the region `owner`'s completion cancels (a second call replaces the first)."""
        cr = CancellationRegionBuilder()
        region(cr)
        decl = RegionDecl(_name(owner, "task"), tuple(cr.tasks), tuple(cr.conditions))
        kept = tuple(r for r in self.regions if r.owner != decl.owner)
        return replace(self, regions=(*kept, decl))

    def with_actions(self, actions: WorkflowActionsBuilder) -> WorkflowBuilder:
        if not isinstance(actions, WorkflowActionsBuilder):
            raise TypeError("with_actions expects Builder.workflow_actions()")
        return replace(self, actions=actions)

    def with_activities(
        self,
        *,
        on_initialized: On[WorkflowActivityContext] = None,
        on_started: On[WorkflowActivityContext] = None,
        on_completed: On[WorkflowTeardownContext] = None,
        on_failed: On[WorkflowTeardownContext] = None,
        on_canceled: On[WorkflowTeardownContext] = None,
    ) -> WorkflowBuilder:
        given = dict(
            on_initialized=on_initialized,
            on_started=on_started,
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
        )
        return replace(self, activities=self.activities.merged(WORKFLOW_ACTIVITIES, given))

    def with_description(self, description: str) -> WorkflowBuilder:
        return replace(self, description=description)

    def _with_condition(self, name: str, role: ConditionRole) -> WorkflowBuilder:
        decl = ConditionDecl(_name(name, "condition"), role)
        return replace(self, conditions=(*self.conditions, decl))

    def _with_task(
        self, name: str, builder: AnyTaskBuilder, expected: type, hint: str
    ) -> WorkflowBuilder:
        if not isinstance(builder, expected):
            raise TypeError(f"task {name!r}: expected {hint}, got {type(builder).__name__}")
        return replace(self, tasks=(*self.tasks, (_name(name, "task"), builder)))


def workflow(name: str) -> WorkflowBuilder:
    return WorkflowBuilder(_name(name, "workflow"))


def _name(name: object, what: str) -> str:
    return element_name(name, what)
