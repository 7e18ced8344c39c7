"""The `Recorder`: what observes every change the engine makes, creations included.

`engine.transitions` calls it for each change, after the change is applied in memory, within the
call's transaction. The audit trail and migration replay plug in here and nowhere else; by
default nothing records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance


class Recorder(Protocol):
    def workflow_created(self, workflow: WorkflowInstance) -> None:
        """A workflow instance exists, with its tasks (disabled, generation 0) and marking."""
        ...

    def workflow_changed(self, workflow: WorkflowInstance, prev: str) -> None: ...

    def task_changed(self, task: TaskInstance, prev: str) -> None:
        """The task's state (and, when enabled, its generation) changed."""
        ...

    def marking_changed(self, workflow: WorkflowInstance, condition: str, prev: int) -> None: ...

    def work_item_created(self, item: WorkItemInstance) -> None: ...

    def work_item_changed(self, item: WorkItemInstance, prev: str) -> None: ...


class NullRecorder:
    """Records nothing."""

    __slots__ = ()

    def workflow_created(self, workflow: WorkflowInstance) -> None:
        pass

    def workflow_changed(self, workflow: WorkflowInstance, prev: str) -> None:
        pass

    def task_changed(self, task: TaskInstance, prev: str) -> None:
        pass

    def marking_changed(self, workflow: WorkflowInstance, condition: str, prev: int) -> None:
        pass

    def work_item_created(self, item: WorkItemInstance) -> None:
        pass

    def work_item_changed(self, item: WorkItemInstance, prev: str) -> None:
        pass


NULL_RECORDER: Recorder = NullRecorder()
