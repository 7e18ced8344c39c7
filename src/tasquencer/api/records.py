"""What the API returns and accepts: frozen dataclasses, convertible with `dataclasses.asdict`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasquencer.errors import ElementNotFoundInPathError


@dataclass(frozen=True, slots=True)
class Target:
    """Where to create a work item or child workflow: the definition path, the workflow
    instance that holds the task, and the task's name."""

    path: tuple[str, ...]
    parent_workflow_id: str
    parent_task_name: str

    @classmethod
    def of(cls, value: Target | Mapping[str, Any]) -> Target:
        if isinstance(value, Target):
            return value
        if not isinstance(value, Mapping):
            raise ElementNotFoundInPathError(
                "a target is a dict {'path': [...], 'parent_workflow_id': id, "
                f"'parent_task_name': name}} or a tq.Target, got {value!r}"
            )
        missing = [k for k in ("path", "parent_workflow_id", "parent_task_name") if k not in value]
        if missing:
            raise ElementNotFoundInPathError(f"the target {dict(value)!r} lacks {missing}")
        path = value["path"]
        if isinstance(path, str) or not isinstance(path, Sequence) or not path:
            raise ElementNotFoundInPathError(
                f"the target's path must be a non-empty list: {path!r}"
            )
        return cls(tuple(path), value["parent_workflow_id"], value["parent_task_name"])


@dataclass(frozen=True, slots=True)
class WorkItem:
    id: str
    name: str
    state: str
    task_name: str
    generation: int
    workflow_id: str


@dataclass(frozen=True, slots=True)
class ChildWorkflow:
    id: str
    name: str
    state: str
    generation: int
    task_name: str


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    state: str
    generation: int


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    id: str
    name: str
    version_name: str
    state: str
    execution_mode: str
    parent_workflow_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WorkflowSnapshot:
    id: str
    name: str
    version_name: str
    state: str
    execution_mode: str
    tasks: dict[str, TaskSnapshot] = field(default_factory=dict)
    conditions: dict[str, int] = field(default_factory=dict)
    work_items: list[WorkItem] = field(default_factory=list)
    child_workflows: list[ChildWorkflow] = field(default_factory=list)
