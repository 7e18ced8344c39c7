"""The single place where each element changes state.

Every state change of a workflow, task, work item or condition goes through one function here,
so that whatever must observe transitions (the task history, audit spans, migration replay)
hooks in at one point.
"""

from __future__ import annotations

from functools import lru_cache

from tasquencer.engine.execution import Execution
from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow

FINAL_STATES = frozenset({"completed", "failed", "canceled"})


def set_workflow_state(ex: Execution, workflow: WorkflowRow, state: str) -> None:
    workflow.state = state
    workflow.updated_at = ex.now()
    ex.uow.touch(workflow)


def set_task_state(ex: Execution, task: TaskRow, state: str) -> None:
    task.state = state
    ex.uow.touch(task)
    ex.note_task_changed(task.workflow_id, task.name)
    ex.uow.log_task(task.workflow_id, task.name, task.generation, state, ex.now())


def open_task_generation(ex: Execution, task: TaskRow) -> None:
    """Enable a task: a new generation starts, with no children and no stats yet."""
    task.generation += 1
    ex.uow.open_generation(task.workflow_id, task.name, task.generation)
    set_task_state(ex, task, "enabled")


def set_work_item_state(ex: Execution, work_item: WorkItemRow, state: str) -> None:
    work_item.state = state
    work_item.updated_at = ex.now()
    ex.uow.touch(work_item)


def note_jobs(ex: Execution, row: WorkflowRow | WorkItemRow, has_jobs: bool) -> None:
    """Remember whether an element has registered jobs, so teardown can skip the lookup."""
    row.has_jobs = has_jobs
    ex.uow.touch(row)


def note_task_jobs(ex: Execution, task: TaskRow, generation: int | None) -> None:
    task.jobs_generation = generation
    ex.uow.touch(task)


def add_tokens(ex: Execution, workflow: WorkflowRow, condition: str, delta: int) -> None:
    """Change a condition's marking by `delta`, never below zero."""
    marking = ex.uow.marking(workflow.id)
    marking[condition] = max(0, marking[condition] + delta)
    ex.uow.touch_marking(workflow.id)
    ex.note_marking_changed(workflow, condition)


def clear_condition(ex: Execution, workflow: WorkflowRow, condition: str) -> None:
    ex.uow.marking(workflow.id)[condition] = 0
    ex.uow.touch_marking(workflow.id)
    ex.note_marking_changed(workflow, condition)


@lru_cache(maxsize=4096)
def fnv1a_32(text: str) -> int:
    """FNV-1a over UTF-16 code units, as the reference uses to pick a stats shard."""
    h = 2166136261
    encoded = text.encode("utf-16-le")
    for i in range(0, len(encoded), 2):
        h ^= encoded[i] | (encoded[i + 1] << 8)
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def count_child_transition(
    ex: Execution,
    task: TaskRow,
    generation: int,
    shards: int,
    child_id: str,
    previous: str | None,
    current: str,
) -> None:
    """Update the stats of the task generation a child (work item or workflow) belongs to."""
    if previous == current:
        return
    shard = fnv1a_32(child_id) % shards if shards > 1 else 0
    ex.uow.count_transition((task.workflow_id, task.name, generation), shard, previous, current)
