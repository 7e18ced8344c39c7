"""Workflows: initialize (root or child), start, complete, fail and cancel, with their shutdown.

A child workflow reports every state change except its initialization to its composite task,
whose policy decides (SEMANTICS.md §11). Shutting a workflow down disables its enabled tasks
and cancels its started ones, tearing their children down in turn.
"""

from __future__ import annotations

from typing import Any

from tasquencer.engine import tasks
from tasquencer.engine.contexts import (
    ParentInfo,
    ScheduleScope,
    TaskInfo,
    WorkflowCanceler,
    WorkflowContext,
    WorkflowInfo,
    WorkflowInitializer,
)
from tasquencer.engine.definitions import CompiledVersion, WorkflowDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.payloads import ActionDef
from tasquencer.engine.transitions import (
    FINAL_STATES,
    count_child_transition,
    note_jobs,
    set_workflow_state,
)
from tasquencer.errors import (
    NotInternalMutationError,
    TaskInvalidStateError,
    WorkflowDeprecatedError,
    WorkflowInvalidStateError,
)
from tasquencer.store.rows import TaskRow, WorkflowRow


def initialize_root(
    ex: Execution, version: CompiledVersion, payload: Any, *, internal: bool
) -> str:
    if version.deprecated:
        raise WorkflowDeprecatedError(
            f"version {version.version_name!r} of workflow {version.workflow_name!r} is "
            "deprecated: it runs its existing instances but starts no new ones"
        )
    return _initialize(ex, version.root, None, payload, internal)


def initialize_child(
    ex: Execution,
    parent: WorkflowRow,
    task: TaskRow,
    child: WorkflowDef,
    payload: Any,
    *,
    internal: bool,
) -> str:
    """Create a child workflow of a composite task's current generation."""
    _require_active(parent, task, task.generation)
    return _initialize(ex, child, (parent, task), payload, internal)


def _require_active(parent: WorkflowRow, task: TaskRow, generation: int | None) -> None:
    if task.state not in tasks.ACTIVE_STATES or task.generation != generation:
        raise TaskInvalidStateError(
            f"{task.name!r} of workflow {parent.id}",
            task.state,
            tasks.ACTIVE_STATES,
            "child workflows are created only while their composite task is enabled or started"
            f" (generation {generation}; the task is at generation {task.generation})",
        )


def _initialize(
    ex: Execution,
    wdef: WorkflowDef,
    parent: tuple[WorkflowRow, TaskRow] | None,
    payload: Any,
    internal: bool,
) -> str:
    action = wdef.initialize_action
    parsed = _parse(action, payload, internal, wdef)
    generation = parent[1].generation if parent else None
    created: list[WorkflowRow] = []

    def create() -> str:
        if not created:
            if parent is not None:
                _require_active(*parent, generation)
            created.append(_insert_instance(ex, wdef, parent, generation))
            if parent is not None:
                parent_wf, task = parent
                shards = ex.task_definition(parent_wf, task).stats_shards
                count_child_transition(
                    ex, task, task.generation, shards, created[0].id, None, "initialized"
                )
        return created[0].id

    parent_info = _parent_info(wdef, parent, generation)
    if action.callback is not None:

        def jobs_key() -> str:
            create()
            return _jobs_key(ex, created[0])

        ctx = WorkflowContext(
            ex,
            internal,
            ScheduleScope(jobs_key),
            WorkflowInitializer(wdef.name, create),
            parent_info,
        )
        action.callback(ctx, parsed)
    create()
    wf = created[0]
    _activity(ex, wf, wdef, "on_initialized", internal, parent_info, active=True)
    tasks.sweep(ex, wf, internal)
    return wf.id


def _insert_instance(
    ex: Execution,
    wdef: WorkflowDef,
    parent: tuple[WorkflowRow, TaskRow] | None,
    generation: int | None,
) -> WorkflowRow:
    now = ex.now()
    workflow_id = ex.services.new_id()
    parent_wf = parent[0] if parent else None
    row = WorkflowRow(
        id=workflow_id,
        name=wdef.name,
        version_name=wdef.version.version_name,
        path=wdef.path,
        root_workflow_id=parent_wf.root_workflow_id if parent_wf else workflow_id,
        realized_path=(*parent_wf.realized_path, parent_wf.id) if parent_wf else (),
        parent_workflow_id=parent_wf.id if parent_wf else None,
        parent_task_name=parent[1].name if parent else None,
        parent_task_generation=generation,
        state="initialized",
        execution_mode=ex.execution_mode,
        has_jobs=False,
        created_at=now,
        updated_at=now,
    )
    net = wdef.net
    task_rows = [
        TaskRow(
            workflow_id=workflow_id,
            name=name,
            state="disabled",
            generation=0,
            execution_mode=ex.execution_mode,
            jobs_generation=None,
        )
        for name in net.tasks
    ]
    marking = {c: 1 if c == net.start else 0 for c in net.conditions}
    ex.uow.add_instance(row, task_rows, marking)
    ex.note_marking_changed(row, net.start)
    for task in task_rows:
        ex.uow.log_task(workflow_id, task.name, 0, "disabled", now)
    return row


def ensure_started(ex: Execution, wf: WorkflowRow, internal: bool) -> None:
    """Start an initialized workflow when its first task starts (idempotent)."""
    if wf.state == "started":
        return
    if wf.state != "initialized":
        raise WorkflowInvalidStateError(
            wf.id, wf.state, ("initialized", "started"), "a task of it is starting"
        )
    parent = _parent_rows(ex, wf)
    if parent is not None:
        tasks.ensure_started(ex, *parent, internal)
        if wf.state != "initialized":
            return  # the composite's start (its policy) already tore this workflow down
    set_workflow_state(ex, wf, "started")
    wdef = ex.definition(wf)
    _activity(ex, wf, wdef, "on_started", internal, _parent_info_of(ex, wf), active=True)
    if parent is not None:
        tasks.workflow_state_changed(
            ex,
            *parent,
            wf,
            "initialized",
            "started",
            call_policy=False,
            teardown=False,
            internal=internal,
        )


def complete(ex: Execution, wf: WorkflowRow, internal: bool) -> None:
    _finish(ex, wf, "completed", internal)


def fail(ex: Execution, wf: WorkflowRow, internal: bool) -> None:
    _finish(ex, wf, "failed", internal)


def _finish(ex: Execution, wf: WorkflowRow, state: str, internal: bool) -> None:
    if wf.state != "started":
        raise WorkflowInvalidStateError(wf.id, wf.state, ("started",), f"cannot become {state}")
    _shutdown(ex, wf, internal)
    set_workflow_state(ex, wf, state)
    _after_final(ex, wf, "started", state, call_policy=True, teardown=False, internal=internal)


def cancel(
    ex: Execution, wf: WorkflowRow, payload: Any, *, internal: bool, teardown: bool = False
) -> None:
    """Cancel an initialized or started workflow; a teardown skips the action and the policy."""
    if wf.state not in ("initialized", "started"):
        raise WorkflowInvalidStateError(
            wf.id, wf.state, ("initialized", "started"), "cannot cancel it"
        )
    prev = wf.state

    def perform() -> None:
        if wf.state not in FINAL_STATES:
            set_workflow_state(ex, wf, "canceled")

    if not teardown:
        wdef = ex.definition(wf)
        action = wdef.cancel_action
        parsed = _parse(action, payload, internal, wdef)
        if action.callback is None:
            perform()
        else:
            ctx = WorkflowContext(
                ex,
                internal,
                ScheduleScope.refused(f"the cancel action of workflow {wf.name!r}"),
                WorkflowCanceler(wf.id, wf.name, perform),
                _parent_info_of(ex, wf),
            )
            action.callback(ctx, parsed)
    _shutdown(ex, wf, internal)
    perform()
    _after_final(
        ex, wf, prev, "canceled", call_policy=not teardown, teardown=teardown, internal=internal
    )


def _shutdown(ex: Execution, wf: WorkflowRow, internal: bool) -> None:
    """Disable every enabled task and cancel every started one, in definition order."""
    ex.closing.add(wf.id)
    try:
        rows = ex.uow.tasks(wf.id)
        for name in ex.definition(wf).net.tasks:
            task = rows[name]
            if task.state == "enabled":
                tasks.disable(ex, wf, task, internal)
            elif task.state == "started":
                tasks.cancel(ex, wf, task, internal)
    finally:
        ex.closing.discard(wf.id)


def _after_final(
    ex: Execution,
    wf: WorkflowRow,
    prev: str,
    state: str,
    *,
    call_policy: bool,
    teardown: bool,
    internal: bool,
) -> None:
    if wf.has_jobs:
        ex.services.jobs.cancel_registered(f"workflow/{wf.id}")
        note_jobs(ex, wf, False)
    wdef = ex.definition(wf)
    _activity(ex, wf, wdef, f"on_{state}", internal, _parent_info_of(ex, wf), active=False)
    parent = _parent_rows(ex, wf)
    if parent is not None:
        tasks.workflow_state_changed(
            ex,
            *parent,
            wf,
            prev,
            state,
            call_policy=call_policy,
            teardown=teardown,
            internal=internal,
        )


# --- pieces ----------------------------------------------------------------------------------


def _parse(action: ActionDef, payload: Any, internal: bool, wdef: WorkflowDef) -> Any:
    parsed = action.parse(payload)
    if action.is_default and not internal:
        root = "root_" if wdef.is_root else ""
        raise NotInternalMutationError(
            f"the {action.name} action of workflow {wdef.name!r} is a default action, which "
            f"only internal callers may use: call api.internal_{action.name}_{root}workflow(...), "
            "or give the workflow a custom action with Builder.workflow_actions()"
        )
    return parsed


def _activity(
    ex: Execution,
    wf: WorkflowRow,
    wdef: WorkflowDef,
    name: str,
    internal: bool,
    parent: ParentInfo | None,
    *,
    active: bool,
) -> None:
    activity = wdef.activities.get(name)
    if activity is None:
        return
    if active:

        def jobs_key() -> str:
            return _jobs_key(ex, wf)

        scope = ScheduleScope(jobs_key)
    else:
        scope = ScheduleScope.refused(f"the {name} activity of workflow {wf.name!r}")
    activity(WorkflowContext(ex, internal, scope, WorkflowInfo(wf.id, wf.name), parent))


def _jobs_key(ex: Execution, wf: WorkflowRow) -> str:
    note_jobs(ex, wf, True)
    return f"workflow/{wf.id}"


def _parent_rows(ex: Execution, wf: WorkflowRow) -> tuple[WorkflowRow, TaskRow] | None:
    if wf.parent_workflow_id is None:
        return None
    parent = ex.workflow(wf.parent_workflow_id)
    return parent, ex.uow.tasks(parent.id)[wf.parent_task_name or ""]


def _parent_info(
    wdef: WorkflowDef, parent: tuple[WorkflowRow, TaskRow] | None, generation: int | None
) -> ParentInfo | None:
    if parent is None or wdef.parent_task is None:
        return None
    parent_wf, task = parent
    return ParentInfo(
        WorkflowInfo(parent_wf.id, parent_wf.name),
        TaskInfo(task.name, generation or 0, wdef.parent_task.path),
    )


def _parent_info_of(ex: Execution, wf: WorkflowRow) -> ParentInfo | None:
    parent = _parent_rows(ex, wf)
    if parent is None:
        return None
    return _parent_info(ex.definition(wf), parent, wf.parent_task_generation)
