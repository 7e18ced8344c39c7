"""Element instances: a row of the engine's tables together with its definition and execution.

The engine's functions take these instead of a clump of `(execution, workflow row, task row,
task definition)`. They are made once per element per call by the `Execution` and hold no
state of their own: the row is the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from tasquencer.contexts import ParentTask, ParentWorkflow, TaskInfo, WorkflowInfo

if TYPE_CHECKING:
    from tasquencer.engine.definitions import TaskDef, WorkflowDef, WorkItemDef
    from tasquencer.engine.execution import Execution
    from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow


class WorkflowInstance:
    __slots__ = ("_tasks", "definition", "ex", "id", "name", "row")

    def __init__(self, ex: Execution, row: WorkflowRow, definition: WorkflowDef) -> None:
        self.ex = ex
        self.row = row
        self.definition = definition
        self.id = row.id
        self.name = row.name
        self._tasks: dict[str, TaskInstance] = {}

    @property
    def state(self) -> str:
        return self.row.state

    def task(self, name: str) -> TaskInstance:
        task = self._tasks.get(name)
        if task is None:
            row = self.ex.uow.tasks(self.row.id)[name]
            task = self._tasks[name] = TaskInstance(self, row, self.definition.tasks[name])
        return task

    def release(self) -> None:
        """Drop the task instances (they point back here) once the call is over."""
        self._tasks.clear()

    def tasks(self) -> Iterator[TaskInstance]:
        """Every task of the workflow, in definition order."""
        for name in self.definition.net.tasks:
            yield self.task(name)

    def marking(self) -> dict[str, int]:
        """The live marking; change it only through `engine.transitions`."""
        return self.ex.uow.marking(self.row.id)

    def parent_task(self) -> TaskInstance | None:
        """The composite task this child workflow belongs to (None for a root)."""
        row = self.row
        if row.parent_workflow_id is None or row.parent_task_name is None:
            return None
        return self.ex.workflow(row.parent_workflow_id).task(row.parent_task_name)

    def info(self) -> WorkflowInfo:
        return WorkflowInfo(self.row.id, self.row.name)

    def parent_info(self) -> ParentTask | None:
        """`ctx.parent` of this workflow's own callbacks."""
        task = self.parent_task()
        if task is None:
            return None
        generation = self.row.parent_task_generation or 0
        return ParentTask(
            task.workflow.info(), TaskInfo(task.name, generation, task.definition.path)
        )


class TaskInstance:
    __slots__ = ("definition", "ex", "name", "row", "workflow")

    def __init__(self, workflow: WorkflowInstance, row: TaskRow, definition: TaskDef) -> None:
        self.workflow = workflow
        self.ex = workflow.ex
        self.row = row
        self.definition = definition
        self.name = row.name

    @property
    def state(self) -> str:
        return self.row.state

    @property
    def generation(self) -> int:
        return self.row.generation

    def parent(self) -> ParentWorkflow:
        """`ctx.parent` of the task's callbacks."""
        return ParentWorkflow(self.workflow.info())

    def owner_of(self, generation: int) -> ParentTask:
        """`ctx.parent` of a child (work item, workflow) of one of this task's generations."""
        return ParentTask(
            self.workflow.info(), TaskInfo(self.row.name, generation, self.definition.path)
        )


class WorkItemInstance:
    __slots__ = ("definition", "ex", "id", "row", "task")

    def __init__(self, task: TaskInstance, row: WorkItemRow, definition: WorkItemDef) -> None:
        self.task = task
        self.ex = task.ex
        self.row = row
        self.definition = definition
        self.id = row.id

    @property
    def state(self) -> str:
        return self.row.state

    def parent(self) -> ParentTask:
        return self.task.owner_of(self.row.task_generation)
