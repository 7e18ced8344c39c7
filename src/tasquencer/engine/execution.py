"""The engine's state for one call: rows, definitions and the runtime services it may use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tasquencer.errors import StructuralIntegrityError
from tasquencer.store.rows import TaskRow, WorkflowRow
from tasquencer.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from tasquencer.engine.definitions import CompiledVersion, TaskDef, WorkflowDef

ExecutionMode = Literal["normal", "fastForward"]


class Jobs(Protocol):
    """The part of the scheduler the engine drives: jobs tied to an element's lifecycle."""

    def register(self, key: str, job_id: str) -> None: ...

    def cancel_registered(self, key: str) -> None: ...


class Services(Protocol):
    """What the runtime gives engine code running inside its transaction."""

    @property
    def session(self) -> Any: ...

    @property
    def scheduler(self) -> Any: ...

    @property
    def jobs(self) -> Jobs: ...

    def now(self) -> datetime: ...

    def new_id(self) -> str: ...


_NONE: set[str] = set()
VersionLookup = Callable[[str, str], "CompiledVersion"]


class Execution:
    """One call into the engine. Everything it changes lives in `uow` until the call commits."""

    __slots__ = (
        "_definitions",
        "_sweep_candidates",
        "closing",
        "execution_mode",
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
    ) -> None:
        self.uow = uow
        self.versions = versions
        self.services = services
        self.execution_mode: ExecutionMode = execution_mode
        # Workflows being shut down: nothing in them may be enabled any more.
        self.closing: set[str] = set()
        self._definitions: dict[str, WorkflowDef] = {}
        # Per workflow, the tasks whose enabledness may have changed since its last sweep.
        self._sweep_candidates: dict[str, set[str]] = {}

    def now(self) -> datetime:
        return self.services.now()

    def definition(self, workflow: WorkflowRow) -> WorkflowDef:
        definition = self._definitions.get(workflow.id)
        if definition is None:
            definition = self._definitions[workflow.id] = self._look_up(workflow)
        return definition

    def _look_up(self, workflow: WorkflowRow) -> WorkflowDef:
        version = self.versions(workflow.path[0], workflow.version_name)
        definition = version.workflow_at(workflow.path)
        if definition is None:
            raise StructuralIntegrityError(
                f"workflow {workflow.id} has path {list(workflow.path)}, which version "
                f"{workflow.version_name!r} of {workflow.path[0]!r} does not define"
            )
        return definition

    def note_task_changed(self, workflow_id: str, task: str) -> None:
        self._sweep_candidates.setdefault(workflow_id, set()).add(task)

    def note_marking_changed(self, workflow: WorkflowRow, condition: str) -> None:
        consumers = self.definition(workflow).net.consumers[condition]
        if consumers:
            self._sweep_candidates.setdefault(workflow.id, set()).update(consumers)

    def take_sweep_candidates(self, workflow_id: str) -> set[str]:
        return self._sweep_candidates.pop(workflow_id, _NONE)

    def task_definition(self, workflow: WorkflowRow, task: TaskRow) -> TaskDef:
        return self.definition(workflow).tasks[task.name]

    def workflow(self, workflow_id: str) -> WorkflowRow:
        row = self.uow.workflow(workflow_id)
        if row is None:
            raise StructuralIntegrityError(f"workflow {workflow_id} is referenced but missing")
        return row
