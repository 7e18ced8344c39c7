"""In-memory rows of the engine's tables, as the engine reads and changes them within a call.

Each row remembers the values last written to the database (`saved`), so the unit of work
writes only what changed; `saved is None` marks a row not yet inserted.

`job_ids` are the jobs tied to an element (`ctx.register_scheduled`), canceled when it is torn
down; a task's are those of generation `jobs_generation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class WorkflowRow:
    __slots__ = (
        "created_at",
        "execution_mode",
        "id",
        "job_ids",
        "name",
        "parent_task_generation",
        "parent_task_name",
        "parent_workflow_id",
        "path",
        "realized_path",
        "root_workflow_id",
        "saved",
        "state",
        "updated_at",
        "version_name",
    )

    def __init__(
        self,
        *,
        id: str,
        name: str,
        version_name: str,
        path: tuple[str, ...],
        root_workflow_id: str,
        realized_path: tuple[str, ...],
        parent_workflow_id: str | None,
        parent_task_name: str | None,
        parent_task_generation: int | None,
        state: str,
        execution_mode: str,
        job_ids: tuple[str, ...],
        created_at: datetime | None,
        updated_at: datetime | None,
        saved: tuple[Any, ...] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.version_name = version_name
        self.path = path
        self.root_workflow_id = root_workflow_id
        self.realized_path = realized_path
        self.parent_workflow_id = parent_workflow_id
        self.parent_task_name = parent_task_name
        self.parent_task_generation = parent_task_generation
        self.state = state
        self.execution_mode = execution_mode
        self.job_ids = job_ids
        self.created_at = created_at
        self.updated_at = updated_at
        self.saved = saved

    def mutable(self) -> tuple[Any, ...]:
        return (self.state, self.job_ids)

    def restore(self, values: tuple[Any, ...]) -> None:
        """Set the values `mutable()` returned earlier, as written in the database."""
        self.state, self.job_ids = values
        self.saved = values

    @property
    def is_root(self) -> bool:
        return self.parent_workflow_id is None


class TaskRow:
    __slots__ = (
        "execution_mode",
        "generation",
        "job_ids",
        "jobs_generation",
        "name",
        "saved",
        "state",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        workflow_id: str,
        name: str,
        state: str,
        generation: int,
        execution_mode: str,
        jobs_generation: int | None,
        job_ids: tuple[str, ...],
        saved: tuple[Any, ...] | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.state = state
        self.generation = generation
        self.execution_mode = execution_mode
        self.jobs_generation = jobs_generation
        self.job_ids = job_ids
        self.saved = saved

    def mutable(self) -> tuple[Any, ...]:
        return (self.state, self.generation, self.jobs_generation, self.job_ids)

    def restore(self, values: tuple[Any, ...]) -> None:
        self.state, self.generation, self.jobs_generation, self.job_ids = values
        self.saved = values


class WorkItemRow:
    __slots__ = (
        "created_at",
        "id",
        "job_ids",
        "name",
        "root_workflow_id",
        "saved",
        "state",
        "task_generation",
        "task_name",
        "updated_at",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        id: str,
        name: str,
        workflow_id: str,
        root_workflow_id: str,
        task_name: str,
        task_generation: int,
        state: str,
        job_ids: tuple[str, ...],
        created_at: datetime | None,
        updated_at: datetime | None,
        saved: tuple[Any, ...] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.workflow_id = workflow_id
        self.root_workflow_id = root_workflow_id
        self.task_name = task_name
        self.task_generation = task_generation
        self.state = state
        self.job_ids = job_ids
        self.created_at = created_at
        self.updated_at = updated_at
        self.saved = saved

    def mutable(self) -> tuple[Any, ...]:
        return (self.state, self.job_ids)

    def restore(self, values: tuple[Any, ...]) -> None:
        self.state, self.job_ids = values
        self.saved = values


STAT_FIELDS = ("total", "initialized", "started", "completed", "failed", "canceled")
