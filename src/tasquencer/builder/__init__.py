"""Declarative workflow definitions. `Builder` is the entry point."""

from tasquencer.builder.actions import Action, WorkflowActionsBuilder, WorkItemActionsBuilder
from tasquencer.builder.elements import (
    CompositeTaskBuilder,
    DummyTaskBuilder,
    DynamicCompositeTaskBuilder,
    TaskBuilder,
    WorkItemBuilder,
    composite_task,
    dynamic_composite_task,
    task,
)
from tasquencer.builder.names import element_name
from tasquencer.builder.workflow import (
    CancellationRegionBuilder,
    ConditionFlowBuilder,
    TaskFlowBuilder,
    WorkflowBuilder,
    workflow,
)


class Builder:
    """Namespace of the builder entry points: `Builder.workflow("name")`, `Builder.task(...)`."""

    workflow = staticmethod(workflow)
    task = staticmethod(task)
    composite_task = staticmethod(composite_task)
    dynamic_composite_task = staticmethod(dynamic_composite_task)

    @staticmethod
    def dummy_task() -> DummyTaskBuilder:
        return DummyTaskBuilder()

    @staticmethod
    def work_item(name: str) -> WorkItemBuilder:
        return WorkItemBuilder(element_name(name, "work item"))

    @staticmethod
    def work_item_actions() -> WorkItemActionsBuilder:
        return WorkItemActionsBuilder()

    @staticmethod
    def workflow_actions() -> WorkflowActionsBuilder:
        return WorkflowActionsBuilder()


__all__ = [
    "Action",
    "Builder",
    "CancellationRegionBuilder",
    "CompositeTaskBuilder",
    "ConditionFlowBuilder",
    "DummyTaskBuilder",
    "DynamicCompositeTaskBuilder",
    "TaskBuilder",
    "TaskFlowBuilder",
    "WorkItemActionsBuilder",
    "WorkItemBuilder",
    "WorkflowActionsBuilder",
    "WorkflowBuilder",
]
