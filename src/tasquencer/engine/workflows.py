"""Workflows: initialize (root or child), start, complete, fail and cancel, with their shutdown.

A child workflow reports every state change except its initialization to its composite task,
whose policy decides. Shutting a workflow down disables its enabled tasks and cancels its
started ones, tearing their children down in turn.
"""

from __future__ import annotations

from collections.abc import Callable

from tasquencer.contexts import Caller, ParentTask
from tasquencer.engine import migrations, tasks
from tasquencer.engine.contexts import (
    ScheduleScope,
    WorkflowActivityCtx,
    WorkflowCancelCtx,
    WorkflowCanceler,
    WorkflowInitializeCtx,
    WorkflowInitializer,
)
from tasquencer.engine.definitions import CompiledVersion, WorkflowDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.instances import TaskInstance, WorkflowInstance
from tasquencer.engine.payloads import ActionDef
from tasquencer.engine.transitions import (
    FINAL_STATES,
    FinalState,
    cancel_tied_jobs,
    count_child_transition,
    create_workflow,
    set_workflow_state,
    tie_job,
)
from tasquencer.errors import (
    NotInternalMutationError,
    TaskInvalidStateError,
    WorkflowDeprecatedError,
    WorkflowInvalidStateError,
)


def initialize_root(
    ex: Execution, version: CompiledVersion, payload: object, caller: Caller
) -> str:
    if version.deprecated:
        raise WorkflowDeprecatedError(
            f"version {version.version_name!r} of workflow {version.workflow_name!r} is "
            "deprecated: it runs its existing instances but starts no new ones"
        )
    return _initialize(ex, version.root, None, payload, caller)


def initialize_child(
    task: TaskInstance, child: WorkflowDef, payload: object, caller: Caller
) -> str:
    """Create a child workflow of a composite task's current generation."""
    _require_active(task, task.row.generation)
    return _initialize(task.ex, child, task, payload, caller)


def _require_active(task: TaskInstance, generation: int | None) -> None:
    row = task.row
    if row.state not in tasks.ACTIVE_STATES or row.generation != generation:
        raise TaskInvalidStateError(
            f"{row.name!r} of workflow {task.workflow.id}",
            row.state,
            tasks.ACTIVE_STATES,
            "child workflows are created only while their composite task is enabled or started"
            f" (generation {generation}; the task is at generation {row.generation})",
        )


def _initialize(
    ex: Execution,
    wdef: WorkflowDef,
    parent: TaskInstance | None,
    payload: object,
    caller: Caller,
) -> str:
    action = wdef.initialize_action
    parsed = _parse(action, payload, caller, wdef)
    generation = parent.row.generation if parent is not None else None
    created: list[WorkflowInstance] = []

    def create() -> str:
        if not created:
            if parent is not None:
                _require_active(parent, generation)
            created.append(create_workflow(ex, wdef, parent, generation))
            if parent is not None:
                count_child_transition(
                    parent, parent.row.generation, created[0].id, None, "initialized"
                )
        return created[0].id

    parent_info = parent.owner_of(generation or 0) if parent is not None else None
    if action.callback is not None:

        def tie(job_id: str) -> None:
            create()
            tie_job(ex, created[0].row, job_id)

        initializer = WorkflowInitializer(wdef.name, create)
        action.callback(
            WorkflowInitializeCtx(ex, caller, ScheduleScope(tie), initializer, parent_info),
            parsed,
        )
    create()
    wf = created[0]
    _activity(wf, "on_initialized", caller, parent_info, active=True)
    tasks.sweep(wf, caller)
    return wf.id


def ensure_started(wf: WorkflowInstance, caller: Caller, *, silent: bool = False) -> None:
    """Start an initialized workflow when its first task starts (idempotent).

    A silent start (a task fast-forwarded by a migration) fires no `on_started`; a normal one
    during a migration's replay runs in normal mode, as a start by real work does.
    """
    row = wf.row
    if row.state == "started":
        return
    if row.state != "initialized":
        raise WorkflowInvalidStateError(
            wf.id, row.state, ("initialized", "started"), "a task of it is starting"
        )
    ex = wf.ex
    if not silent and ex.execution_mode != "normal":
        ex.execution_mode = "normal"
        try:
            _start(wf, caller, silent)
        finally:
            ex.execution_mode = "fastForward"
        return
    _start(wf, caller, silent)


def _start(wf: WorkflowInstance, caller: Caller, silent: bool) -> None:
    row = wf.row
    parent = wf.parent_task()
    if parent is not None:
        tasks.ensure_started(parent, caller, silent=silent)
        if row.state != "initialized":
            return  # the composite's start (its policy) already tore this workflow down
    set_workflow_state(wf, "started")
    if not silent:
        _activity(wf, "on_started", caller, wf.parent_info(), active=True)
    if parent is not None:
        tasks.workflow_state_changed(
            parent, wf, "initialized", "started", call_policy=False, teardown=False, caller=caller
        )


def complete(wf: WorkflowInstance, caller: Caller) -> None:
    _finish(wf, "completed", caller)


def fail(wf: WorkflowInstance, caller: Caller) -> None:
    _finish(wf, "failed", caller)


def _finish(wf: WorkflowInstance, state: FinalState, caller: Caller) -> None:
    if wf.row.state != "started":
        raise WorkflowInvalidStateError(wf.id, wf.row.state, ("started",), f"cannot become {state}")
    _shutdown(wf, caller)
    set_workflow_state(wf, state)
    _after_final(wf, "started", state, call_policy=True, teardown=False, caller=caller)


def cancel(
    wf: WorkflowInstance,
    payload: object,
    caller: Caller,
    *,
    teardown: bool = False,
    for_migration: bool = False,
) -> None:
    """Cancel an initialized or started workflow; a teardown skips the action and the policy,
    a migration the action (the instance is replaced, not abandoned)."""
    row = wf.row
    if row.state not in ("initialized", "started"):
        raise WorkflowInvalidStateError(
            wf.id, row.state, ("initialized", "started"), "cannot cancel it"
        )
    prev = row.state

    def perform() -> None:
        if row.state not in FINAL_STATES:
            set_workflow_state(wf, "canceled")

    if not (teardown or for_migration):
        action = wf.definition.cancel_action
        parsed = _parse(action, payload, caller, wf.definition)
        if action.callback is None:
            perform()
        else:
            ctx = WorkflowCancelCtx(
                wf.ex,
                caller,
                ScheduleScope.refused(f"the cancel action of workflow {wf.name!r}"),
                WorkflowCanceler(wf.id, wf.name, perform),
                wf.parent_info(),
            )
            action.callback(ctx, parsed)
    _shutdown(wf, caller)
    perform()
    _after_final(wf, prev, "canceled", call_policy=not teardown, teardown=teardown, caller=caller)


def _shutdown(wf: WorkflowInstance, caller: Caller) -> None:
    """Disable every enabled task and cancel every started one, in definition order."""
    closing = wf.ex.closing
    closing.add(wf.id)
    try:
        for task in wf.tasks():
            if task.row.state == "enabled":
                tasks.disable(task, caller)
            elif task.row.state == "started":
                tasks.cancel(task, caller)
    finally:
        closing.discard(wf.id)


def _after_final(
    wf: WorkflowInstance,
    prev: str,
    state: FinalState,
    *,
    call_policy: bool,
    teardown: bool,
    caller: Caller,
) -> None:
    cancel_tied_jobs(wf.ex, wf.row)
    _activity(wf, f"on_{state}", caller, wf.parent_info(), active=False)
    parent = wf.parent_task()
    if parent is not None:
        tasks.workflow_state_changed(
            parent, wf, prev, state, call_policy=call_policy, teardown=teardown, caller=caller
        )
    elif wf.row.execution_mode == "fastForward":
        migrations.finalize(wf, state, caller)


# --- pieces ----------------------------------------------------------------------------------


def _parse(action: ActionDef, payload: object, caller: Caller, wdef: WorkflowDef) -> object:
    parsed = action.parse(payload)
    if action.is_default and not caller.is_internal:
        root = "root_" if wdef.is_root else ""
        raise NotInternalMutationError(
            f"the {action.name} action of workflow {wdef.name!r} is a default action, which "
            f"only internal callers may use: call api.internal_{action.name}_{root}workflow(...), "
            "or give the workflow a custom action with Builder.workflow_actions()"
        )
    return parsed


def _activity(
    wf: WorkflowInstance,
    name: str,
    caller: Caller,
    parent: ParentTask | None,
    *,
    active: bool,
) -> None:
    activity = wf.definition.activities.get(name)
    if activity is None:
        return
    if active:
        scope = ScheduleScope(job_tie(wf))
    else:
        scope = ScheduleScope.refused(f"the {name} activity of workflow {wf.name!r}")
    wf.ex.recorder.activity_started("WorkflowActivity", name, wf, wf.row.id)
    activity(WorkflowActivityCtx(wf.ex, caller, scope, wf.info(), parent))
    wf.ex.recorder.activity_ended()


def job_tie(wf: WorkflowInstance) -> Callable[[str], None]:
    """What ties jobs registered now to the workflow: they end with it."""
    return lambda job_id: tie_job(wf.ex, wf.row, job_id)
