"""What the API returns and accepts: frozen dataclasses, convertible with `dataclasses.asdict`."""

from __future__ import annotations

import json
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

from tasquencer import arguments
from tasquencer.errors import ElementNotFoundInPathError, SerializationError, describe

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


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One change of a workflow, its tasks or its work items, as `get_workflow_history` lists
    them: `element` is the workflow id, the task name or the work item id; `caller` is
    "internal" or "external" (None when no API call made it, e.g. a migration's replay)."""

    seq: int
    at: datetime
    operation: str
    element: str
    state: str | None
    generation: int | None
    caller: str | None
    user_id: str | None
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class TraceSpan:
    """One recorded engine operation of a workflow tree's trace, with the spans nested in it.

    `seq` numbers the trace's spans in the order they happened, across transactions;
    `resource` is the task or condition name, the work item or workflow id, or the API call's
    argument; `state` and `number` are what the operation left (a state; a generation or a
    marking). The caller fields are set on a call's own span.
    """

    trace_id: str
    seq: int
    parent_seq: int | None
    operation: str
    workflow_id: str | None
    resource: str | None
    state: str | None
    number: int | None
    at: datetime
    caller: str | None = None
    user_id: str | None = None
    correlation_id: str | None = None
    attributes: dict[str, Any] | None = None
    children: list[TraceSpan] = field(default_factory=list)


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


# --- authorization and work queues -----------------------------------------------------------

OfferKind = Literal["scope", "group", "user", "agent"]
OFFER_KINDS: tuple[OfferKind, ...] = get_args(OfferKind)
MAX_TITLE = 500
MAX_TARGET = 200
MAX_PRIORITY = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Offer:
    """Who a work item is offered to, and what a work queue shows of it.

    `Offer.to_scope("er:triage:write")` (users holding the scope), `Offer.to_group("nurses")`,
    `Offer.to_user("u-17")`, `Offer.to_agents()`. `priority`: higher first; `payload`: any JSON
    value the UI needs (ids, a summary), shown as is in the queue.
    """

    kind: OfferKind
    target: str
    title: str | None = None
    priority: int = 0
    due_at: datetime | None = None
    payload: object = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in OFFER_KINDS:
            raise ValueError(
                f"an offer's kind must be one of {OFFER_KINDS}, got {describe(self.kind)}"
            )
        if not _storable(self.target, MAX_TARGET) or (self.kind != "agent" and not self.target):
            raise ValueError(
                f"an offer to a {self.kind} names it with a non-empty str of at most "
                f"{MAX_TARGET} characters, got {describe(self.target)}"
            )
        if self.title is not None and not _storable(self.title, MAX_TITLE):
            raise ValueError(
                f"an offer's title is a str of at most {MAX_TITLE} characters without NUL, "
                f"got {describe(self.title)}"
            )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"an offer's priority is an int, got {describe(self.priority)}")
        if abs(self.priority) > MAX_PRIORITY:
            raise ValueError(f"an offer's priority must be within ±{MAX_PRIORITY}")
        if self.due_at is not None:
            arguments.moment(self.due_at, "an offer's due_at")
        try:
            json.dumps(self.payload, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise SerializationError(
                f"an offer's payload is stored as JSON; {describe(self.payload)} is not JSON"
            ) from None

    @classmethod
    def to_scope(
        cls,
        scope: str,
        *,
        title: str | None = None,
        priority: int = 0,
        due_at: datetime | None = None,
        payload: object = None,
    ) -> Offer:
        """Offered to every user whose roles grant `scope`."""
        return cls("scope", scope, title, priority, due_at, payload)

    @classmethod
    def to_group(
        cls,
        group: str,
        *,
        title: str | None = None,
        priority: int = 0,
        due_at: datetime | None = None,
        payload: object = None,
    ) -> Offer:
        """Offered to the active members of a group (by name)."""
        return cls("group", group, title, priority, due_at, payload)

    @classmethod
    def to_user(
        cls,
        user_id: str,
        *,
        title: str | None = None,
        priority: int = 0,
        due_at: datetime | None = None,
        payload: object = None,
    ) -> Offer:
        """Offered to one user."""
        return cls("user", user_id, title, priority, due_at, payload)

    @classmethod
    def to_agents(
        cls,
        *,
        title: str | None = None,
        priority: int = 0,
        due_at: datetime | None = None,
        payload: object = None,
    ) -> Offer:
        """Offered to agents (users with `is_agent`); never shown in people's queues."""
        return cls("agent", "", title, priority, due_at, payload)


def _storable(value: object, maximum: int) -> bool:
    return isinstance(value, str) and len(value) <= maximum and "\x00" not in value


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A work item as a work queue shows it. `offer_target` is the scope, the group's id, the
    user id, or "" for agents; `workflow_name` is the root workflow's name."""

    work_item_id: str
    work_item_name: str
    workflow_id: str
    root_workflow_id: str
    workflow_name: str
    task_name: str
    state: WorkItemState
    offer_kind: OfferKind
    offer_target: str
    title: str | None
    priority: int
    due_at: datetime | None
    payload: object
    claimed_by: str | None
    claimed_at: datetime | None
    offered_at: datetime


@dataclass(frozen=True, slots=True)
class Scope:
    """A scope a scope module declares: `name` is the full name (`er:triage:write`)."""

    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    deprecated: bool = False
    module_kind: Literal["domain", "system"] = "domain"


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    description: str
    is_active: bool
    metadata: object = field(hash=False)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str
    description: str
    scopes: tuple[str, ...]
    is_active: bool
    metadata: object = field(hash=False)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: str
    group: str
    joined_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A role held by a user directly (`user_id`) or by a group's members (`group`)."""

    role: str
    user_id: str | None
    group: str | None
    assigned_at: datetime
    assigned_by: str | None
    expires_at: datetime | None
