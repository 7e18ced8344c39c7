"""What the API returns and accepts: frozen dataclasses, convertible with `dataclasses.asdict`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic reads these on Python 3.11
    get_args,
)

from typing_extensions import TypedDict

from tasquencer.errors import ElementNotFoundInPathError, describe

WorkflowState = Literal["initialized", "started", "completed", "failed", "canceled"]
TaskState = Literal["disabled", "enabled", "started", "completed", "failed", "canceled"]
WorkItemState = Literal["initialized", "started", "completed", "failed", "canceled"]
JobState = Literal["pending", "in_progress", "success", "failed", "canceled"]
WORKFLOW_STATES: tuple[WorkflowState, ...] = get_args(WorkflowState)
WORK_ITEM_STATES: tuple[WorkItemState, ...] = get_args(WorkItemState)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to create a work item or child workflow: the definition path, the workflow
    instance that holds the task, and the task's name."""

    path: tuple[str, ...]
    parent_workflow_id: str
    parent_task_name: str

    def __post_init__(self) -> None:
        path = self.path
        if (
            isinstance(path, str)
            or not isinstance(path, Sequence)
            or not path
            or not all(isinstance(name, str) for name in path)
        ):
            raise ElementNotFoundInPathError(
                f"a target's path must be a non-empty list of names, got {describe(path)}"
            )
        object.__setattr__(self, "path", tuple(path))
        for field_name in ("parent_workflow_id", "parent_task_name"):
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise ElementNotFoundInPathError(
                    f"a target's {field_name} must be a str, got {describe(value)}"
                )

    @classmethod
    def of(cls, value: Target | Mapping[str, Any]) -> Target:
        if isinstance(value, Target):
            return value
        if not isinstance(value, Mapping):
            raise ElementNotFoundInPathError(
                "a target is a dict {'path': [...], 'parent_workflow_id': id, "
                f"'parent_task_name': name}} or a tq.Target, got {describe(value)}"
            )
        missing = [k for k in ("path", "parent_workflow_id", "parent_task_name") if k not in value]
        if missing:
            raise ElementNotFoundInPathError(f"the target {describe(dict(value))} lacks {missing}")
        return cls(value["path"], value["parent_workflow_id"], value["parent_task_name"])


@dataclass(frozen=True, slots=True)
class WorkItem:
    id: str
    name: str
    state: WorkItemState
    task_name: str
    generation: int
    workflow_id: str


@dataclass(frozen=True, slots=True)
class ChildWorkflow:
    id: str
    name: str
    state: WorkflowState
    generation: int
    task_name: str


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    state: TaskState
    generation: int


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    id: str
    name: str
    version_name: str
    state: WorkflowState
    execution_mode: str
    parent_workflow_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WorkflowSnapshot:
    id: str
    name: str
    version_name: str
    state: WorkflowState
    execution_mode: str
    tasks: dict[str, TaskSnapshot] = field(default_factory=dict)
    conditions: dict[str, int] = field(default_factory=dict)
    work_items: list[WorkItem] = field(default_factory=list)
    child_workflows: list[ChildWorkflow] = field(default_factory=list)
    # Migration: the instance this one replaced, and the one that replaced it.
    migrated_from: str | None = None
    migrated_to: str | None = None
    parent_workflow_id: str | None = None  # a child workflow's parent instance


@dataclass(frozen=True, slots=True)
class ActionDescription:
    """One action of a workflow version (`api.describe_actions()`), for the HTTP layer and UIs:
    where it is, its payload schema, and whether external callers may use it."""

    element: Literal["workflow", "work_item"]
    path: tuple[str, ...]
    action: str
    schema: object
    accepts_external: bool


@dataclass(frozen=True, slots=True)
class MigrationOutcome:
    """What became of one instance in `app.migrate_all`: the new instance's id, or the error
    that left it as it was; with `dry_run`, the task states the migration would give it."""

    workflow_id: str
    new_workflow_id: str | None
    error: str | None
    task_states: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    function: str
    args: dict[str, object]
    state: JobState
    run_at: datetime
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ConditionStructure(TypedDict):
    name: str
    is_start: bool
    is_end: bool
    is_implicit: bool


class FlowStructure(TypedDict):
    source: str
    target: str


class RegionStructure(TypedDict):
    tasks: list[str]
    conditions: list[str]


class TaskStructure(TypedDict):
    name: str
    kind: Literal["task", "composite", "dynamic_composite", "dummy"]
    join_type: Literal["and", "xor", "or"]
    split_type: Literal["and", "xor", "or"]
    description: str | None
    work_item: NotRequired[str]
    children: NotRequired[list[WorkflowStructure]]


class WorkflowStructure(TypedDict):
    """`api.get_workflow_structure()`: the static graph of a definition, for UIs."""

    name: str
    description: str | None
    tasks: list[TaskStructure]
    conditions: list[ConditionStructure]
    flows: list[FlowStructure]
    cancellation_regions: dict[str, RegionStructure]
