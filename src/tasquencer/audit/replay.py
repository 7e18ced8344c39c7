"""A workflow tree's state rebuilt from its spans: what checkpoints store and time travel reads.

The state is plain JSON (it is what a checkpoint row holds): `workflows` by id, each with its
state, tasks `{name: [state, generation]}`, marking `{condition: tokens}`, work items `{id:
[name, state, task name, generation]}` and the ids of its child workflows. Applying a span sets
what the operation left, so a state is exactly the one the engine had after the same spans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tasquencer.records import ChildWorkflow, TaskSnapshot, WorkflowSnapshot, WorkItem

TreeState = dict[str, dict[str, Any]]
# [seq, parent_seq, operation, workflow_id, resource, state, number, caller, user_id,
#  correlation_id, attributes]: a span as stored in its call's row (`tasquencer_audit_spans`).
SpanRow = list[Any] | tuple[Any, ...]

_VERBS = {
    "initialized": "initialize",
    "enabled": "enable",
    "disabled": "disable",
    "started": "start",
    "completed": "complete",
    "failed": "fail",
    "canceled": "cancel",
}
WORKFLOW_OPS = {state: f"Workflow.{verb}" for state, verb in _VERBS.items()}
TASK_OPS = {state: f"Task.{verb}" for state, verb in _VERBS.items()}
ITEM_OPS = {state: f"WorkItem.{verb}" for state, verb in _VERBS.items()}
ITEM_OPS["initialized"] = "WorkItem.reset"  # only a reset goes back to initialized
# The state each change leaves (a creation leaves "initialized").
STATE_AFTER = {op: state for ops in (WORKFLOW_OPS, TASK_OPS, ITEM_OPS) for state, op in ops.items()}
STATE_AFTER["Workflow.initialize"] = STATE_AFTER["WorkItem.initialize"] = "initialized"

WORKFLOW_CREATED = "Workflow.initialize"
WORK_ITEM_CREATED = "WorkItem.initialize"
MIGRATED_FROM = "Workflow.migratedFrom"
MIGRATED_TO = "Workflow.migratedTo"


def empty() -> TreeState:
    return {"workflows": {}}


def unpacked(
    trace_id: str, rows: Iterable[tuple[Any, Any]], json_out: Callable[[Any], Any]
) -> Iterator[SpanRow]:
    """The spans of stored calls' rows (first seq, spans as stored), numbered, in order.

    A span is stored as [parent, operation, workflow id, resource, number, attributes, caller,
    user id, correlation id], without the trailing fields it does not have. Its parent is an
    index in the same row, or `-seq - 1` for a span of an earlier row; the root workflow's id
    is 0; the state is the one its operation leaves. A call given no correlation id is
    correlated by its row (`trace:seq`)."""
    for base, stored in rows:
        for offset, span in enumerate(json_out(stored)):
            parent, operation, workflow_id, resource, number = span[:5]
            if parent is not None:
                parent = base + parent if parent >= 0 else -parent - 1
            size = len(span)
            attributes = span[5] if size > 5 else None
            caller = user_id = correlation = None
            if size > 6:
                caller, user_id, correlation = span[6:9]
                correlation = correlation or f"{trace_id}:{base}"
            yield (
                base + offset,
                parent,
                operation,
                trace_id if workflow_id == 0 else workflow_id,
                resource,
                STATE_AFTER.get(operation),
                number,
                caller,
                user_id,
                correlation,
                attributes,
            )


def apply(state: TreeState, spans: Iterable[SpanRow]) -> TreeState:
    """Apply spans, in order, to `state` (changed in place and returned)."""
    for span in spans:
        operation = span[2]
        handler = _BY_OPERATION.get(operation) or _BY_KIND.get(operation.partition(".")[0])
        if handler is not None:
            try:
                handler(state, span)
            except KeyError:
                # An element no span created: the tree began while the app ran with audit=None
                # (readers then refuse to answer about it).
                continue
    return state


def snapshot(state: TreeState, workflow_id: str) -> WorkflowSnapshot | None:
    """`get_workflow_snapshot`'s record of one workflow in `state` (None if it is not there)."""
    workflow = state["workflows"].get(workflow_id)
    if workflow is None:
        return None
    workflows = state["workflows"]
    children = [(child_id, workflows[child_id]) for child_id in sorted(workflow["children"])]
    return WorkflowSnapshot(
        id=workflow_id,
        name=workflow["name"],
        version_name=workflow["version_name"],
        state=workflow["state"],
        execution_mode=workflow["execution_mode"],
        tasks={name: TaskSnapshot(s, g) for name, (s, g) in workflow["tasks"].items()},
        conditions=dict(workflow["conditions"]),
        work_items=[
            WorkItem(i, n, s, t, g, workflow_id)
            for i, (n, s, t, g) in sorted(workflow["work_items"].items())
        ],
        child_workflows=[
            ChildWorkflow(
                child_id,
                child["name"],
                child["state"],
                child["parent_task_generation"],
                child["parent_task_name"],
            )
            for child_id, child in children
        ],
        migrated_from=workflow["migrated_from"],
        migrated_to=workflow["migrated_to"],
        parent_workflow_id=workflow["parent_workflow_id"],
    )


def _workflow_created(state: TreeState, span: SpanRow) -> None:
    attributes = span[10]
    state["workflows"][span[4]] = {
        "name": attributes["name"],
        "version_name": attributes["version_name"],
        "state": "initialized",
        "execution_mode": attributes["execution_mode"],
        "parent_workflow_id": attributes["parent_workflow_id"],
        "parent_task_name": attributes["parent_task_name"],
        "parent_task_generation": attributes["parent_task_generation"],
        "tasks": {name: ["disabled", 0] for name in attributes["tasks"]},
        "conditions": dict(attributes["marking"]),
        "migrated_from": None,
        "migrated_to": None,
        "work_items": {},
        "children": [],
    }
    parent = attributes["parent_workflow_id"]
    if parent is not None:
        state["workflows"][parent]["children"].append(span[4])


def _workflow_changed(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[4]]["state"] = span[5]


def _task_changed(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[3]]["tasks"][span[4]] = [span[5], span[6]]


def _marking_changed(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[3]]["conditions"][span[4]] = span[6]


def _work_item_created(state: TreeState, span: SpanRow) -> None:
    attributes = span[10]
    items = state["workflows"][span[3]]["work_items"]
    items[span[4]] = [attributes["name"], "initialized", attributes["task_name"], span[6]]


def _work_item_changed(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[3]]["work_items"][span[4]][1] = span[5]


def _migrated_from(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[4]]["migrated_from"] = span[10]["workflow_id"]


def _migrated_to(state: TreeState, span: SpanRow) -> None:
    state["workflows"][span[4]]["migrated_to"] = span[10]["workflow_id"]


_Handler = Callable[[TreeState, SpanRow], None]
_BY_OPERATION: dict[str, _Handler] = {
    WORKFLOW_CREATED: _workflow_created,
    WORK_ITEM_CREATED: _work_item_created,
    MIGRATED_FROM: _migrated_from,
    MIGRATED_TO: _migrated_to,
}
_BY_KIND: dict[str, _Handler] = {
    "Workflow": _workflow_changed,
    "Task": _task_changed,
    "Condition": _marking_changed,
    "WorkItem": _work_item_changed,
}
