"""Compiled definitions: builders checked and turned into nets plus the element callbacks."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from tasquencer.builder.activities import Activities
from tasquencer.builder.elements import (
    AnyTaskBuilder,
    CompositeTaskBuilder,
    DynamicCompositeTaskBuilder,
    OfferSource,
    Policy,
    TaskBuilder,
    TaskKind,
    WorkItemBuilder,
)
from tasquencer.builder.migration import MigrationBuilder, StoredCallback
from tasquencer.builder.names import MAX_NAME
from tasquencer.builder.workflow import StoredRouter, WorkflowBuilder
from tasquencer.engine.payloads import ActionDef
from tasquencer.errors import (
    DuplicateElementError,
    InvalidFlowError,
    TaskMissingRouterError,
    UnknownElementError,
    WorkflowMissingEndConditionError,
    WorkflowMissingStartConditionError,
    WorkflowMultipleEndConditionsError,
    WorkflowMultipleStartConditionsError,
)
from tasquencer.net import or_join
from tasquencer.net.model import Net, Region, TaskShape
from tasquencer.records import (
    ActionDescription,
    ConditionStructure,
    FlowStructure,
    RegionStructure,
    TaskStructure,
    WorkflowStructure,
)

Path = tuple[str, ...]


class WorkItemDef:
    __slots__ = ("actions", "activities", "description", "name", "offer", "path", "task")

    def __init__(self, task: TaskDef, builder: WorkItemBuilder) -> None:
        self.task = task
        self.name: str = builder.name
        self.path: Path = (*task.path, self.name)
        self.description: str | None = builder.description
        label = f"work item {self.name!r}"
        self.actions = {
            name: ActionDef(label, name, builder.actions.get(name))
            for name in ("initialize", "start", "complete", "fail", "cancel", "reset")
        }
        self.activities: Activities = builder.activities
        self.offer: OfferSource | None = builder.offer


class TaskDef:
    __slots__ = (
        "activities",
        "children",
        "description",
        "join",
        "kind",
        "name",
        "path",
        "policy",
        "router",
        "split",
        "stats_shards",
        "work_item",
        "workflow",
    )

    def __init__(self, workflow: WorkflowDef, name: str, builder: AnyTaskBuilder) -> None:
        self.workflow = workflow
        self.name = name
        self.kind: TaskKind = builder.kind
        self.path: Path = (*workflow.path, name)
        self.join = builder.join
        self.split = builder.split
        self.description = builder.description
        self.activities: Activities = builder.activities
        self.policy: Policy | None = getattr(builder, "policy", None)
        self.stats_shards: int = getattr(builder, "stats_shards", 1)
        self.router: StoredRouter | None = None
        self.work_item: WorkItemDef | None = None
        self.children: dict[str, WorkflowDef] = {}

    @property
    def is_composite(self) -> bool:
        return self.kind in ("composite", "dynamic_composite")


class WorkflowDef:
    __slots__ = (
        "activities",
        "builder",
        "cancel_action",
        "description",
        "initialize_action",
        "name",
        "net",
        "parent_task",
        "path",
        "tasks",
        "version",
    )

    def __init__(
        self, version: CompiledVersion, builder: WorkflowBuilder, parent_task: TaskDef | None
    ) -> None:
        self.version = version
        self.builder = builder
        self.name = builder.name
        self.parent_task = parent_task
        self.path: Path = (*parent_task.path, builder.name) if parent_task else (builder.name,)
        self.description = builder.description
        label = f"workflow {self.name!r}"
        self.initialize_action = ActionDef(label, "initialize", builder.actions.get("initialize"))
        self.cancel_action = ActionDef(label, "cancel", builder.actions.get("cancel"))
        self.activities: Activities = builder.activities
        self.tasks: dict[str, TaskDef] = {}
        self.net: Net

    @property
    def is_root(self) -> bool:
        return self.parent_task is None


class MigrationDef:
    """How instances of the previous version move to this one (see `tq.migrate`)."""

    __slots__ = ("finalizer", "from_version", "initializer", "name", "task_migrators")

    def __init__(self, name: str, from_version: str, builder: MigrationBuilder) -> None:
        self.name = name
        self.from_version = from_version
        self.initializer = builder.initializer
        self.finalizer = builder.finalizer
        self.task_migrators = dict(builder.task_migrators)


class CompiledVersion:
    """One registered version of a workflow: its definitions by path, and its status."""

    def __init__(self, workflow_name: str, version_name: str, builder: WorkflowBuilder) -> None:
        self.workflow_name = workflow_name
        self.version_name = version_name
        self.deprecated = False
        self.builder = builder
        self.workflows: dict[Path, WorkflowDef] = {}
        self.root = _compile_workflow(self, builder, None)
        # The migration from the previous version into this one, if declared.
        self.migration: MigrationDef | None = None

    def workflow_at(self, path: Path) -> WorkflowDef | None:
        return self.workflows.get(path)

    def attach_migration(self, migration: MigrationDef) -> None:
        """Check that each task migrator names a task of this version, then keep it."""
        owners: dict[str, list[WorkflowDef]] = {}
        for workflow in self.workflows.values():
            owners.setdefault(workflow.name, []).append(workflow)
        for key in migration.task_migrators:
            owner, task = key.split("/")
            if not any(task in w.tasks for w in owners.get(owner, [])):
                raise UnknownElementError(
                    f"migration {migration.name!r}: the task migrator {key!r} names no task of "
                    f"version {self.version_name!r}: "
                    + (
                        f"workflow {owner!r} has no task {task!r}"
                        if owner in owners
                        else f"it has no workflow {owner!r} (workflows: "
                        + ", ".join(map(repr, sorted(owners)))
                        + ")"
                    )
                )
        self.migration = migration

    def task_migrator(self, owner: str, task: str) -> StoredCallback | None:
        """The migrator of task `task` of workflow `owner`, if the migration has one."""
        if self.migration is None:
            return None
        return self.migration.task_migrators.get(f"{owner}/{task}")


def implicit_condition(source: str, target: str) -> str:
    return f"{source}__to__{target}"


def _compile_workflow(
    version: CompiledVersion, builder: WorkflowBuilder, parent_task: TaskDef | None
) -> WorkflowDef:
    wf = WorkflowDef(version, builder, parent_task)
    start, end = _start_and_end(builder)
    _reject_duplicate_tasks(builder)
    for name, task_builder in builder.tasks:
        task = TaskDef(wf, name, task_builder)
        wf.tasks[name] = task
        if isinstance(task_builder, TaskBuilder):
            assert task_builder.work_item is not None
            task.work_item = WorkItemDef(task, task_builder.work_item)
        elif isinstance(task_builder, CompositeTaskBuilder):
            assert task_builder.workflow is not None
            child = _compile_workflow(version, task_builder.workflow, task)
            task.children = {child.name: child}
        elif isinstance(task_builder, DynamicCompositeTaskBuilder):
            for child_builder in task_builder.workflows:
                child = _compile_workflow(version, child_builder, task)
                task.children[child.name] = child

    conditions = [c.name for c in builder.conditions]
    declared = set(conditions)
    arcs: list[tuple[str, str]] = []
    for flow in builder.flows:
        _check_source(wf, flow.source, flow.source_kind, set(conditions))
        if flow.router is not None:
            _attach_router(wf, flow.source, flow.router)
        for kind, target in flow.targets:
            if flow.source_kind == "condition" or kind == "condition":
                arcs.append((flow.source, target))
            else:
                implicit = _implicit_condition(wf, flow.source, target, declared)
                if implicit not in conditions:
                    conditions.append(implicit)
                arcs.append((flow.source, implicit))
                arcs.append((implicit, target))
    _require_routers(wf, {source for source, _ in arcs})

    wf.net = Net.build(
        wf.name,
        start=start,
        end=end,
        conditions=conditions,
        tasks=[TaskShape(t.name, t.join, t.split) for t in wf.tasks.values()],
        arcs=arcs,
        regions={r.owner: Region(r.tasks, r.conditions) for r in builder.regions},
    )
    or_join.prepare(wf.net)
    version.workflows[wf.path] = wf
    return wf


def _implicit_condition(wf: WorkflowDef, source: str, target: str, declared: set[str]) -> str:
    """The name of the condition a task -> task flow goes through; it must be free."""
    name = implicit_condition(source, target)
    if name in declared:
        raise DuplicateElementError(
            f"workflow {wf.name!r}: the condition {name!r} is declared, and it is also the name "
            f"of the implicit condition of the flow {source!r} -> {target!r}; rename the "
            "condition, or connect the tasks through it with connect_task(...).condition(...)"
        )
    if len(name) > MAX_NAME:
        raise InvalidFlowError(
            f"workflow {wf.name!r}: the flow {source!r} -> {target!r} goes through an implicit "
            f"condition named {name[:60]!r}..., longer than {MAX_NAME} characters; use shorter "
            "task names or an explicit condition"
        )
    return name


def _reject_duplicate_tasks(builder: WorkflowBuilder) -> None:
    seen: set[str] = set()
    for name, _ in builder.tasks:
        if name in seen:
            raise DuplicateElementError(
                f"workflow {builder.name!r} declares the task {name!r} more than once"
            )
        seen.add(name)


def _start_and_end(builder: WorkflowBuilder) -> tuple[str, str]:
    starts = [c.name for c in builder.conditions if c.role == "start"]
    ends = [c.name for c in builder.conditions if c.role == "end"]
    if not starts:
        raise WorkflowMissingStartConditionError(
            f"workflow {builder.name!r} has no start condition; declare one with "
            ".start_condition(name)"
        )
    if len(starts) > 1:
        raise WorkflowMultipleStartConditionsError(
            f"workflow {builder.name!r} declares {len(starts)} start conditions "
            f"({', '.join(map(repr, starts))}); it must have exactly one"
        )
    if not ends:
        raise WorkflowMissingEndConditionError(
            f"workflow {builder.name!r} has no end condition; declare one with .end_condition(name)"
        )
    if len(ends) > 1:
        raise WorkflowMultipleEndConditionsError(
            f"workflow {builder.name!r} declares {len(ends)} end conditions "
            f"({', '.join(map(repr, ends))}); it must have exactly one"
        )
    return starts[0], ends[0]


def _check_source(wf: WorkflowDef, source: str, kind: str, conditions: set[str]) -> None:
    if kind == "condition" and source not in conditions:
        raise UnknownElementError(
            f"workflow {wf.name!r}: connect_condition({source!r}) names an unknown condition"
            + (" (it is a task: use connect_task)" if source in wf.tasks else "")
        )
    if kind == "task" and source not in wf.tasks:
        raise UnknownElementError(
            f"workflow {wf.name!r}: connect_task({source!r}) names an unknown task"
            + (" (it is a condition: use connect_condition)" if source in conditions else "")
        )


def _attach_router(wf: WorkflowDef, task_name: str, router: StoredRouter) -> None:
    task = wf.tasks[task_name]
    if task.split == "and":
        raise InvalidFlowError(
            f"workflow {wf.name!r}: task {task_name!r} has an AND split, so its router would "
            "never be called; give it .with_split_type('xor') or ('or'), or drop .route()"
        )
    task.router = router


def _require_routers(wf: WorkflowDef, sources: set[str]) -> None:
    for task in wf.tasks.values():
        if task.split == "and":
            continue
        if task.router is None:
            raise TaskMissingRouterError(
                f"workflow {wf.name!r}: task {task.name!r} has an {task.split.upper()} split "
                "but no router; end its connect_task flow with .route(router)"
            )
        if task.name not in sources:
            # A router of a task without outgoing flows could never return a valid route.
            raise InvalidFlowError(
                f"workflow {wf.name!r}: task {task.name!r} has an {task.split.upper()} split "
                "but no outgoing flow to route to; name its targets in connect_task"
            )


def describe_actions(version: CompiledVersion) -> list[ActionDescription]:
    """Every action of a version's workflows and work items, in definition order."""
    described: list[ActionDescription] = []
    for workflow in version.workflows.values():
        for action in (workflow.initialize_action, workflow.cancel_action):
            described.append(_described("workflow", workflow.path, action))
        for task in workflow.tasks.values():
            if task.work_item is not None:
                for action in task.work_item.actions.values():
                    described.append(_described("work_item", task.work_item.path, action))
    return described


def _described(
    element: Literal["workflow", "work_item"], path: Path, action: ActionDef
) -> ActionDescription:
    return ActionDescription(element, path, action.name, action.schema, not action.is_default)


def describe_structure(wf: WorkflowDef) -> WorkflowStructure:
    """The static graph of a workflow, for UIs (`get_workflow_structure`)."""
    net = wf.net
    declared = {d.name for d in wf.builder.conditions}
    conditions: list[ConditionStructure] = [
        {
            "name": c,
            "is_start": c == net.start,
            "is_end": c == net.end,
            "is_implicit": c not in declared,
        }
        for c in net.conditions
    ]
    flows: list[FlowStructure] = [
        *(FlowStructure(source=c, target=t) for c in net.conditions for t in net.consumers[c]),
        *(FlowStructure(source=t, target=c) for t in net.tasks for c in net.postsets[t]),
    ]
    regions: dict[str, RegionStructure] = {
        owner: {"tasks": list(r.tasks), "conditions": list(r.conditions)}
        for owner, r in net.regions.items()
    }
    return {
        "name": wf.name,
        "description": wf.description,
        "tasks": [_describe_task(t) for t in wf.tasks.values()],
        "conditions": conditions,
        "flows": flows,
        "cancellation_regions": regions,
    }


def _describe_task(task: TaskDef) -> TaskStructure:
    described: TaskStructure = {
        "name": task.name,
        "kind": task.kind,
        "join_type": task.join,
        "split_type": task.split,
        "description": task.description,
    }
    if task.work_item is not None:
        described["work_item"] = task.work_item.name
    if task.is_composite:
        described["children"] = [describe_structure(c) for c in task.children.values()]
    return described


# --- the shape of a version, to recognize it in the database ---------------------------------

Shape = dict[str, dict[str, object]]


def version_shape(version: CompiledVersion) -> Shape:
    """What instances of a version depend on: per workflow (by path), its conditions, tasks
    (kind, join, split, work item, children, stats shards), arcs in order, and regions.
    Callbacks and payload schemas are not part of it: they may change between deployments."""
    return {
        "/".join(path): _workflow_shape(workflow) for path, workflow in version.workflows.items()
    }


def fingerprint(shape: Shape) -> str:
    canonical = json.dumps(shape, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def shape_differences(stored: Shape, given: Shape) -> list[str]:
    """How `given` differs from `stored`, one line per difference, for error messages."""
    lines: list[str] = []
    for path in sorted(set(stored) | set(given)):
        if path not in given:
            lines.append(f"workflow {path}: only in the stored definition")
        elif path not in stored:
            lines.append(f"workflow {path}: not in the stored definition")
        else:
            lines.extend(_differences(path, stored[path], given[path]))
    return lines


def _workflow_shape(workflow: WorkflowDef) -> dict[str, object]:
    net = workflow.net
    return {
        "start": net.start,
        "end": net.end,
        "conditions": list(net.conditions),
        "tasks": {
            task.name: {
                "kind": task.kind,
                "join": task.join,
                "split": task.split,
                "work_item": task.work_item.name if task.work_item else None,
                "children": list(task.children),
                "stats_shards": task.stats_shards,
            }
            for task in workflow.tasks.values()
        },
        "presets": {t: list(net.presets[t]) for t in net.tasks},
        "postsets": {t: list(net.postsets[t]) for t in net.tasks},
        "regions": {
            owner: {"tasks": list(r.tasks), "conditions": list(r.conditions)}
            for owner, r in net.regions.items()
        },
    }


def _differences(path: str, stored: dict[str, object], given: dict[str, object]) -> list[str]:
    lines = []
    for key in sorted(set(stored) | set(given)):
        before, after = stored.get(key), given.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    lines.append(
                        f"workflow {path}, {key} of {name!r}: stored {before.get(name)!r}, "
                        f"given {after.get(name)!r}"
                    )
        else:
            lines.append(f"workflow {path}, {key}: stored {before!r}, given {after!r}")
    return lines
