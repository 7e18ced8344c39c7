"""The `Recorder`: what observes every change the engine makes, creations included.

`engine.transitions` calls it for each change, after the change is applied in memory, within the
call's transaction; the API facade tells it where each call begins and ends, and the engine where
each activity runs, so that what a call changes can be nested under it. The audit trail plugs in
here and nowhere else; by default nothing records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tasquencer.contexts import Caller
    from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
    from tasquencer.store.sql import Db


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

    def migrated(self, old: WorkflowInstance, new: WorkflowInstance) -> None:
        """`new` replaces the root instance `old` (a migration)."""
        ...

    def call_started(self, name: str, caller: Caller, resource: object, payload: object) -> None:
        """An API call begins: what it changes, until `call_ended`, is nested under it."""
        ...

    def call_ended(self) -> None: ...

    def activity_started(
        self, kind: str, name: str, workflow: WorkflowInstance, resource: str
    ) -> None:
        """An activity callback (`kind` "WorkflowActivity", "TaskActivity", ...) begins."""
        ...

    def activity_ended(self) -> None: ...


class TransactionRecorder(Recorder, Protocol):
    """A `Recorder` as the transaction drives it: written at flush, exported after commit."""

    def flush(self, db: Db) -> None: ...

    def mark(self) -> object:
        """Where the recording stands, for `rewind` when a nested call is rolled back."""
        ...

    def rewind(self, mark: object) -> None: ...

    def committed(self) -> None: ...


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

    def migrated(self, old: WorkflowInstance, new: WorkflowInstance) -> None:
        pass

    def call_started(self, name: str, caller: Caller, resource: object, payload: object) -> None:
        pass

    def call_ended(self) -> None:
        pass

    def activity_started(
        self, kind: str, name: str, workflow: WorkflowInstance, resource: str
    ) -> None:
        pass

    def activity_ended(self) -> None:
        pass

    def flush(self, db: Db) -> None:
        pass

    def mark(self) -> object:
        return None

    def rewind(self, mark: object) -> None:
        pass

    def committed(self) -> None:
        pass


NULL_RECORDER: TransactionRecorder = NullRecorder()
