"""The engine's state for one call: rows, definitions and the runtime services it may use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from tasquencer.contexts import ExecutionMode, Scheduler
from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
from tasquencer.engine.recording import NULL_RECORDER, Recorder
from tasquencer.errors import StructuralIntegrityError
from tasquencer.store.rows import WorkflowRow, WorkItemRow
from tasquencer.store.unit_of_work import Checkpoint, UnitOfWork

if TYPE_CHECKING:
    from tasquencer.engine.definitions import CompiledVersion, WorkflowDef, WorkItemDef


class Jobs(Protocol):
    """The part of the scheduler the engine drives: jobs tied to an element's lifecycle."""

    def require(self, job_id: str) -> None: ...

    def cancel_pending(self, job_ids: Iterable[str]) -> None: ...


class Services(Protocol):
    """What the runtime gives engine code running inside its transaction."""

    @property
    def session(self) -> Session: ...

    @property
    def scheduler(self) -> Scheduler: ...

    @property
    def jobs(self) -> Jobs: ...

    def now(self) -> datetime: ...

    def new_id(self) -> str: ...


_NONE: set[str] = set()
ExecutionCheckpoint = tuple[set[str], dict[str, set[str]], Checkpoint]
VersionLookup = Callable[[str, str], "CompiledVersion"]


class Execution:
    """One call into the engine. Everything it changes lives in `uow` until the call commits."""

    __slots__ = (
        "_sweep_candidates",
        "_work_items",
        "_workflows",
        "closing",
        "execution_mode",
        "recorder",
        "services",
        "uow",
        "versions",
    )

    def __init__(
        self,
        uow: UnitOfWork,
        versions: VersionLookup,
        services: Services,
        execution_mode: ExecutionMode = "normal",
        recorder: Recorder = NULL_RECORDER,
    ) -> None:
        self.uow = uow
        self.versions = versions
        self.services = services
        self.execution_mode: ExecutionMode = execution_mode
        self.recorder = recorder
        # Workflows being shut down: nothing in them may be enabled any more.
        self.closing: set[str] = set()
        self._workflows: dict[str, WorkflowInstance] = {}
        self._work_items: dict[str, WorkItemInstance] = {}
        # Per workflow, the tasks whose enabledness may have changed since its last sweep.
        self._sweep_candidates: dict[str, set[str]] = {}

    def now(self) -> datetime:
        return self.services.now()

    # --- instances -------------------------------------------------------------------------

    def find_workflow(self, workflow_id: str) -> WorkflowInstance | None:
        found = self._workflows.get(workflow_id)
        if found is None:
            row = self.uow.workflow(workflow_id)
            if row is None:
                return None
            found = self.instance_of(row)
        return found

    def workflow(self, workflow_id: str) -> WorkflowInstance:
        """A workflow the engine's own rows refer to (it must exist)."""
        found = self.find_workflow(workflow_id)
        if found is None:
            raise StructuralIntegrityError(f"workflow {workflow_id} is referenced but missing")
        return found

    def instance_of(self, row: WorkflowRow) -> WorkflowInstance:
        found = self._workflows.get(row.id)
        if found is None:
            found = self._workflows[row.id] = WorkflowInstance(self, row, self._definition(row))
        return found

    def added(self, row: WorkflowRow, definition: WorkflowDef) -> WorkflowInstance:
        """The instance of a workflow this call just created."""
        instance = self._workflows[row.id] = WorkflowInstance(self, row, definition)
        return instance

    def find_work_item(self, work_item_id: str) -> WorkItemInstance | None:
        found = self._work_items.get(work_item_id)
        if found is None:
            row = self.uow.work_item(work_item_id)
            if row is None:
                return None
            found = self.work_item_of(row)
        return found

    def work_item_of(self, row: WorkItemRow) -> WorkItemInstance:
        found = self._work_items.get(row.id)
        if found is None:
            task = self.workflow(row.workflow_id).task(row.task_name)
            widef = task.definition.work_item
            if widef is None:
                raise StructuralIntegrityError(
                    f"work item {row.id} belongs to task {row.task_name!r}, which has no work items"
                )
            found = self._work_items[row.id] = WorkItemInstance(task, row, widef)
        return found

    def added_work_item(
        self, task: TaskInstance, row: WorkItemRow, definition: WorkItemDef
    ) -> WorkItemInstance:
        """The instance of a work item this call just created in `task`."""
        item = self._work_items[row.id] = WorkItemInstance(task, row, definition)
        return item

    def checkpoint(self) -> ExecutionCheckpoint:
        """Where the call stands (with `uow.checkpoint()`), for a nested call's rollback."""
        return (
            set(self.closing),
            {w: set(c) for w, c in self._sweep_candidates.items()},
            self.uow.checkpoint(),
        )

    def restore(self, checkpoint: ExecutionCheckpoint) -> None:
        """Back to the checkpoint: a nested call was rolled back to its savepoint."""
        closing, candidates, rows = checkpoint
        dropped = self.uow.restore(rows)
        self.closing.clear()
        self.closing.update(closing)
        self._sweep_candidates.clear()
        self._sweep_candidates.update(candidates)
        for workflow_id in dropped.workflows:
            self._workflows.pop(workflow_id, None)
        for workflow_id in dropped.tasks_of:
            workflow = self._workflows.get(workflow_id)
            if workflow is not None:
                workflow.release()
        for work_item_id in dropped.work_items:
            self._work_items.pop(work_item_id, None)

    def close(self) -> None:
        """Break the references between instances and this execution: a call's rows are then
        freed by reference counting when it ends, not by the garbage collector."""
        for workflow in self._workflows.values():
            workflow.release()
        self._workflows.clear()
        self._work_items.clear()
        self._sweep_candidates.clear()

    def _definition(self, workflow: WorkflowRow) -> WorkflowDef:
        version = self.versions(workflow.path[0], workflow.version_name)
        definition = version.workflow_at(workflow.path)
        if definition is None:
            raise StructuralIntegrityError(
                f"workflow {workflow.id} has path {list(workflow.path)}, which version "
                f"{workflow.version_name!r} of {workflow.path[0]!r} does not define"
            )
        return definition

    # --- the sweep's candidates ------------------------------------------------------------

    def note_task_changed(self, task: TaskInstance) -> None:
        self._sweep_candidates.setdefault(task.workflow.row.id, set()).add(task.row.name)

    def note_marking_changed(self, workflow: WorkflowInstance, condition: str) -> None:
        consumers = workflow.definition.net.consumers[condition]
        if consumers:
            self._sweep_candidates.setdefault(workflow.row.id, set()).update(consumers)

    def take_sweep_candidates(self, workflow_id: str) -> set[str]:
        return self._sweep_candidates.pop(workflow_id, _NONE)
