"""The single place where elements are created and change state.

Every creation and state change of a workflow, task, work item or condition goes through one
function here, which applies it to the call's rows, keeps the task history and the sweep's
candidates, and tells the execution's `Recorder` (audit, migration replay) what happened.
"""

from __future__ import annotations

import sys
from array import array
from functools import lru_cache
from typing import Literal

from tasquencer.engine.definitions import WorkflowDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow

FINAL_STATES = frozenset({"completed", "failed", "canceled"})
FinalState = Literal["completed", "failed", "canceled"]


# --- creations -------------------------------------------------------------------------------


def create_workflow(
    ex: Execution, definition: WorkflowDef, parent: TaskInstance | None, generation: int | None
) -> WorkflowInstance:
    """A new workflow instance: its row, a disabled task row per task, its conditions (a token
    on the start condition)."""
    now = ex.now()
    workflow_id = ex.services.new_id()
    parent_wf = parent.workflow.row if parent is not None else None
    row = WorkflowRow(
        id=workflow_id,
        name=definition.name,
        version_name=definition.version.version_name,
        path=definition.path,
        root_workflow_id=parent_wf.root_workflow_id if parent_wf else workflow_id,
        realized_path=(*parent_wf.realized_path, parent_wf.id) if parent_wf else (),
        parent_workflow_id=parent_wf.id if parent_wf else None,
        parent_task_name=parent.name if parent is not None else None,
        parent_task_generation=generation,
        state="initialized",
        execution_mode=ex.execution_mode,
        job_ids=(),
        created_at=now,
        updated_at=now,
    )
    net = definition.net
    task_rows = [
        TaskRow(
            workflow_id=workflow_id,
            name=name,
            state="disabled",
            generation=0,
            execution_mode=ex.execution_mode,
            jobs_generation=None,
            job_ids=(),
        )
        for name in net.tasks
    ]
    marking = {c: 1 if c == net.start else 0 for c in net.conditions}
    ex.uow.add_instance(row, task_rows, marking)
    for task in task_rows:
        ex.uow.log_task(workflow_id, task.name, 0, "disabled", now)
    workflow = ex.added(row, definition)
    ex.note_marking_changed(workflow, net.start)
    ex.recorder.workflow_created(workflow)
    return workflow


def create_work_item(task: TaskInstance, generation: int) -> WorkItemInstance:
    """A new, initialized work item of one task generation."""
    ex = task.ex
    widef = task.definition.work_item
    assert widef is not None
    now = ex.now()
    row = WorkItemRow(
        id=ex.services.new_id(),
        name=widef.name,
        workflow_id=task.workflow.row.id,
        root_workflow_id=task.workflow.row.root_workflow_id,
        task_name=task.row.name,
        task_generation=generation,
        state="initialized",
        job_ids=(),
        created_at=now,
        updated_at=now,
    )
    ex.uow.add_work_item(row)
    item = ex.added_work_item(task, row, widef)
    ex.recorder.work_item_created(item)
    return item


# --- state changes ---------------------------------------------------------------------------


def set_workflow_state(workflow: WorkflowInstance, state: str) -> None:
    ex = workflow.ex
    row = workflow.row
    prev = row.state
    row.state = state
    row.updated_at = ex.now()
    ex.uow.touch(row)
    ex.recorder.workflow_changed(workflow, prev)


def set_task_state(task: TaskInstance, state: str) -> None:
    ex = task.workflow.ex
    row = task.row
    prev = row.state
    row.state = state
    ex.uow.touch(row)
    ex.note_task_changed(task)
    ex.uow.log_task(row.workflow_id, row.name, row.generation, state, ex.now())
    ex.recorder.task_changed(task, prev)


def open_task_generation(task: TaskInstance) -> None:
    """Enable a task: a new generation starts, with no children and no stats yet."""
    row = task.row
    row.generation += 1
    task.workflow.ex.uow.open_generation(row.workflow_id, row.name, row.generation)
    set_task_state(task, "enabled")


def set_work_item_state(item: WorkItemInstance, state: str) -> None:
    ex = item.ex
    row = item.row
    prev = row.state
    row.state = state
    row.updated_at = ex.now()
    ex.uow.touch(row)
    ex.recorder.work_item_changed(item, prev)


def add_tokens(workflow: WorkflowInstance, condition: str, delta: int) -> None:
    """Change a condition's marking by `delta`, never below zero."""
    marking = workflow.marking()
    prev = marking[condition]
    marking[condition] = max(0, prev + delta)
    _marking_changed(workflow, condition, prev)


def clear_condition(workflow: WorkflowInstance, condition: str) -> None:
    marking = workflow.marking()
    prev = marking[condition]
    marking[condition] = 0
    _marking_changed(workflow, condition, prev)


def _marking_changed(workflow: WorkflowInstance, condition: str, prev: int) -> None:
    ex = workflow.ex
    ex.uow.touch_marking(workflow.row.id, condition)
    ex.note_marking_changed(workflow, condition)
    ex.recorder.marking_changed(workflow, condition, prev)


# --- bookkeeping that is not a state change --------------------------------------------------


def tie_job(ex: Execution, row: WorkflowRow | WorkItemRow, job_id: str) -> None:
    """Tie a job to an element: it is canceled when the element is torn down."""
    row.job_ids = (*row.job_ids, job_id)
    ex.uow.touch(row)


def tie_task_job(task: TaskInstance, generation: int, job_id: str) -> None:
    """Tie a job to one generation of a task."""
    row = task.row
    if row.jobs_generation != generation:
        row.jobs_generation = generation
        row.job_ids = ()
    row.job_ids = (*row.job_ids, job_id)
    task.workflow.ex.uow.touch(row)


def cancel_tied_jobs(ex: Execution, row: WorkflowRow | WorkItemRow | TaskRow) -> None:
    """Cancel the jobs tied to an element that have not started, and forget them."""
    if row.job_ids:
        ex.services.jobs.cancel_pending(row.job_ids)
        row.job_ids = ()
        ex.uow.touch(row)


@lru_cache(maxsize=4096)
def fnv1a_32(text: str) -> int:
    """FNV-1a over UTF-16 code units, as the reference uses to pick a stats shard."""
    h = 2166136261
    for unit in array("H", text.encode(_UTF16_NATIVE)):  # the code units, with no indexing
        h = ((h ^ unit) * 16777619) & 0xFFFFFFFF
    return h


_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def count_child_transition(
    task: TaskInstance, generation: int, child_id: str, previous: str | None, current: str
) -> None:
    """Update the stats of the task generation a child (work item or workflow) belongs to."""
    if previous == current:
        return
    shards = task.definition.stats_shards
    shard = fnv1a_32(child_id) % shards if shards > 1 else 0
    row = task.row
    task.workflow.ex.uow.count_transition(
        (row.workflow_id, row.name, generation), shard, previous, current
    )
