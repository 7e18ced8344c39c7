"""Tasks: enabling follows the marking, starting consumes, completing routes and produces.

After every step that changes a workflow's marking (a start, a completion with its region) the
workflow is swept: each task that is not started is enabled if its join holds and it is not
enabled, disabled if it is enabled and its join no longer holds (SEMANTICS.md §17.3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasquencer.engine import auto_triggers, work_items, workflows
from tasquencer.engine.contexts import (
    ChildWorkflows,
    DynamicChildWorkflows,
    ParentInfo,
    PolicyContext,
    RouterContext,
    ScheduleScope,
    StateChange,
    TaskContext,
    TaskHandle,
    TaskStats,
    TaskWorkItems,
    Transition,
    WorkflowInfo,
)
from tasquencer.engine.definitions import TaskDef, WorkflowDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.policies import PolicyResult, checked_result, decide_by_default
from tasquencer.engine.routing import RouteBuilder, routed_conditions
from tasquencer.engine.transitions import (
    FINAL_STATES,
    add_tokens,
    clear_condition,
    count_child_transition,
    note_task_jobs,
    open_task_generation,
    set_task_state,
)
from tasquencer.errors import TaskInvalidStateError, TasquencerError
from tasquencer.net.firing import consumed_conditions, join_holds, produced_conditions
from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow

ACTIVE_STATES = ("enabled", "started")
_OPEN = ("initialized", "started")


# --- the sweep -------------------------------------------------------------------------------


def sweep(ex: Execution, wf: WorkflowRow, internal: bool) -> None:
    """Bring every task that is not started in line with the marking, in definition order.

    Only tasks next to a condition that changed, tasks that changed state, and OR-joins (which
    look at the whole net) can be out of line, so only those are examined.
    """
    candidates = ex.take_sweep_candidates(wf.id)
    if wf.state in FINAL_STATES or wf.id in ex.closing:
        return
    net = ex.definition(wf).net
    tasks = ex.uow.tasks(wf.id)
    marking = ex.uow.marking(wf.id)
    for name in net.tasks:
        if name not in candidates and net.joins[name] != "or":
            continue
        task = tasks[name]
        if task.state == "started":
            continue
        started = _started(tasks) if net.joins[name] == "or" else ()
        if join_holds(net, name, marking, started):
            if task.state != "enabled":
                enable(ex, wf, task, internal)
        elif task.state == "enabled":
            disable(ex, wf, task, internal)
        if wf.state in FINAL_STATES or wf.id in ex.closing:
            return


def _started(tasks: dict[str, TaskRow]) -> frozenset[str]:
    return frozenset(name for name, task in tasks.items() if task.state == "started")


# --- transitions -----------------------------------------------------------------------------


def enable(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    open_task_generation(ex, task)
    tdef = ex.task_definition(wf, task)
    _run_activity(ex, wf, task, tdef, "on_enabled", internal, active=True)
    if tdef.kind == "dummy" and task.state == "enabled":
        ensure_started(ex, wf, task, internal)
        complete(ex, wf, task, internal)


def disable(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    set_task_state(ex, task, "disabled")
    _end_generation(ex, wf, task, "on_disabled", internal)


def cancel(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    """Cancel an enabled or started task (cancellation region, workflow shutdown)."""
    set_task_state(ex, task, "canceled")
    _end_generation(ex, wf, task, "on_canceled", internal)


def fail(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    if task.state != "started":
        return
    set_task_state(ex, task, "failed")
    _end_generation(ex, wf, task, "on_failed", internal)


def ensure_started(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    """Start an enabled task (idempotent): its first child starts, or it is a dummy task."""
    if task.state == "started":
        return
    if task.state != "enabled":
        raise TaskInvalidStateError(
            f"{task.name!r} of workflow {wf.id}", task.state, ACTIVE_STATES, "cannot start it"
        )
    workflows.ensure_started(ex, wf, internal)
    if task.state != "enabled":
        return  # starting the workflow (and its parent composite) tore this task down
    set_task_state(ex, task, "started")
    net = ex.definition(wf).net
    for condition in consumed_conditions(net, task.name, ex.uow.marking(wf.id)):
        add_tokens(ex, wf, condition, -1)
    sweep(ex, wf, internal)
    if task.state != "started":
        return
    tdef = ex.task_definition(wf, task)
    _run_activity(ex, wf, task, tdef, "on_started", internal, active=True)
    if tdef.kind != "dummy" and task.state == "started":
        evaluate_policy(ex, wf, task, tdef, Transition("started", "completed"), internal)


def complete(ex: Execution, wf: WorkflowRow, task: TaskRow, internal: bool) -> None:
    """Complete a started task once: teardown, region, tokens, then the sweep (§17.1)."""
    if task.state != "started":
        return
    set_task_state(ex, task, "completed")
    tdef = ex.task_definition(wf, task)
    _end_generation(ex, wf, task, "on_completed", internal)
    _cancel_region_and_produce(ex, wf, task, tdef, internal)
    net = tdef.workflow.net
    if ex.uow.marking(wf.id)[net.end] > 0 and wf.state == "started":
        workflows.complete(ex, wf, internal)
    else:
        sweep(ex, wf, internal)


def _cancel_region_and_produce(
    ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef, internal: bool
) -> None:
    net = tdef.workflow.net
    region = net.region(task.name)
    tasks = ex.uow.tasks(wf.id)
    for member in region.tasks:
        if tasks[member].state in ACTIVE_STATES:
            cancel(ex, wf, tasks[member], internal)
    for condition in region.conditions:
        clear_condition(ex, wf, condition)
    routed = None if tdef.split == "and" else _route(ex, wf, task, tdef, internal)
    for condition in produced_conditions(net, task.name, routed):
        add_tokens(ex, wf, condition, 1)


def _end_generation(
    ex: Execution, wf: WorkflowRow, task: TaskRow, activity: str, internal: bool
) -> None:
    """What every end of a generation does: children torn down, jobs canceled, activity."""
    tdef = ex.task_definition(wf, task)
    _tear_down_children(ex, wf, task, tdef, internal)
    cancel_task_jobs(ex, wf, task)
    _run_activity(ex, wf, task, tdef, activity, internal, active=False)


def _tear_down_children(
    ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef, internal: bool
) -> None:
    if tdef.kind == "dummy":
        return
    generation = task.generation
    stats = ex.uow.stats(wf.id, task.name, generation)
    if stats[1] + stats[2] == 0:
        return
    if tdef.kind == "task":
        items = ex.uow.generation_work_items(wf.id, task.name, generation)
        for item in _initialized_then_started(items):
            if item.state in _OPEN:
                work_items.cancel(ex, item, None, internal=internal, teardown=True)
    else:
        children = ex.uow.generation_children(wf.id, task.name, generation)
        for child in _initialized_then_started(children):
            if child.state in _OPEN:
                workflows.cancel(ex, child, None, internal=internal, teardown=True)


def _initialized_then_started(rows: list[Any]) -> list[Any]:
    return [r for r in rows if r.state == "initialized"] + [r for r in rows if r.state == "started"]


# --- children report their state changes -----------------------------------------------------


def work_item_state_changed(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    item: WorkItemRow,
    prev: str,
    next: str,
    *,
    call_policy: bool,
    teardown: bool,
    internal: bool,
) -> None:
    tdef = ex.task_definition(wf, task)
    current = task.generation == item.task_generation and task.state in ACTIVE_STATES
    _run_activity(
        ex,
        wf,
        task,
        tdef,
        "on_work_item_state_changed",
        internal,
        active=current and not teardown,
        change=StateChange(item.id, prev, next),
    )
    if call_policy and next in FINAL_STATES and current and task.state == "started":
        evaluate_policy(ex, wf, task, tdef, Transition(prev, next), internal)


def workflow_state_changed(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    child: WorkflowRow,
    prev: str,
    next: str,
    *,
    call_policy: bool,
    teardown: bool,
    internal: bool,
) -> None:
    tdef = ex.task_definition(wf, task)
    generation = child.parent_task_generation or 0
    count_child_transition(ex, task, generation, tdef.stats_shards, child.id, prev, next)
    current = task.generation == generation and task.state in ACTIVE_STATES
    _run_activity(
        ex,
        wf,
        task,
        tdef,
        "on_workflow_state_changed",
        internal,
        active=current and not teardown,
        change=StateChange(child.id, prev, next),
        child_name=child.name,
    )
    if call_policy and next in FINAL_STATES and current and task.state == "started":
        evaluate_policy(ex, wf, task, tdef, Transition(prev, next), internal)


# --- policies and routers --------------------------------------------------------------------


def evaluate_policy(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    tdef: TaskDef,
    transition: Transition,
    internal: bool,
) -> None:
    if tdef.policy is None:  # the default policy needs no context
        stats = _handle(ex, wf, task, tdef).get_stats
        result = decide_by_default(transition.next_state, stats, composite=tdef.kind != "task")
    else:
        ctx = PolicyContext(
            ex,
            internal,
            _parent(wf),
            _handle(ex, wf, task, tdef),
            transition,
            **_child_views(ex, wf, task, tdef),
        )
        result = checked_result(task.name, tdef.policy(ctx))
    if result is PolicyResult.COMPLETE:
        complete(ex, wf, task, internal)
    elif result is PolicyResult.FAIL:
        fail(ex, wf, task, internal)
        if wf.state == "started":
            workflows.fail(ex, wf, internal)


def _route(
    ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef, internal: bool
) -> list[str]:
    ctx = RouterContext(
        ex,
        internal,
        _parent(wf),
        _handle(ex, wf, task, tdef),
        RouteBuilder(task.name),
        **_child_views(ex, wf, task, tdef),
    )
    return routed_conditions(task.name, tdef.split, tdef.router(ctx))


def _child_views(ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef) -> dict[str, Any]:
    """Read-only views of a generation's children, for policies and routers."""
    generation = task.generation
    if tdef.kind == "task":
        assert tdef.work_item is not None
        return {
            "work_item": TaskWorkItems(
                tdef.work_item.name,
                tdef.work_item.path,
                _work_item_ids(ex, wf, task.name, generation),
                _not_here("work items", "a policy or router"),
            )
        }
    if tdef.kind == "dummy":
        return {}
    views = [
        ChildWorkflows(
            child.name,
            child.path,
            _child_ids(ex, wf, task.name, generation, child.name),
            _not_here("child workflows", "a policy or router"),
        )
        for child in tdef.children.values()
    ]
    if tdef.kind == "composite":
        return {"workflow": views[0]}
    return {"workflows": views}


# --- activities ------------------------------------------------------------------------------


def _run_activity(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    tdef: TaskDef,
    name: str,
    internal: bool,
    *,
    active: bool,
    change: StateChange | None = None,
    child_name: str | None = None,
) -> None:
    activity = tdef.activities.get(name)
    if activity is None:
        return
    queue = auto_triggers.TriggerQueue()
    ctx = TaskContext(
        ex,
        internal,
        _schedule_scope(ex, wf, task, tdef, name, active),
        _parent(wf),
        _handle(ex, wf, task, tdef),
        **_child_accessors(ex, wf, task, tdef, queue, change, child_name),
    )
    activity(ctx)
    auto_triggers.drain(ex, queue)


def _child_accessors(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    tdef: TaskDef,
    queue: auto_triggers.TriggerQueue,
    change: StateChange | None,
    child_name: str | None,
) -> dict[str, Any]:
    generation = task.generation
    if tdef.kind == "task":
        assert tdef.work_item is not None

        def initialize_work_item(payload: Any) -> str:
            return work_items.initialize(ex, wf, task, payload, internal=True, queue=queue)

        return {
            "work_item": TaskWorkItems(
                tdef.work_item.name,
                tdef.work_item.path,
                _work_item_ids(ex, wf, task.name, generation),
                initialize_work_item,
                change,
            )
        }
    if tdef.kind == "dummy":
        return {}
    if tdef.kind == "composite":
        (child,) = tdef.children.values()
        return {
            "workflow": ChildWorkflows(
                child.name,
                child.path,
                _child_ids(ex, wf, task.name, generation, None),
                _child_initializer(ex, wf, task, child),
                change,
            )
        }
    return {
        "workflow": DynamicChildWorkflows(
            {name: child.path for name, child in tdef.children.items()},
            _child_ids(ex, wf, task.name, generation, None),
            {name: _child_initializer(ex, wf, task, c) for name, c in tdef.children.items()},
            change,
            child_name,
        )
    }


def _child_initializer(
    ex: Execution, wf: WorkflowRow, task: TaskRow, child: WorkflowDef
) -> Callable[..., str]:
    def initialize(payload: Any = None) -> str:
        return workflows.initialize_child(ex, wf, task, child, payload, internal=True)

    return initialize


def _schedule_scope(
    ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef, activity: str, active: bool
) -> ScheduleScope:
    if tdef.kind == "dummy":
        return ScheduleScope(
            None,
            f"register_scheduled is not available for dummy task {task.name!r}: it completes "
            "as soon as it is enabled, so a job tied to it would be canceled at once. Use "
            "ctx.scheduler directly.",
        )
    if not active:
        return ScheduleScope.refused(f"the {activity} activity of task {task.name!r}")
    generation = task.generation

    def key() -> str:
        note_task_jobs(ex, task, generation)
        return task_jobs_key(wf.id, task.name, generation)

    return ScheduleScope(key)


def task_jobs_key(workflow_id: str, task: str, generation: int) -> str:
    return f"task/{workflow_id}/{task}/{generation}"


def cancel_task_jobs(ex: Execution, wf: WorkflowRow, task: TaskRow) -> None:
    """Cancel the jobs registered for the task's current generation (§17.11)."""
    if task.jobs_generation is not None and task.jobs_generation == task.generation:
        ex.services.jobs.cancel_registered(task_jobs_key(wf.id, task.name, task.generation))
        note_task_jobs(ex, task, None)


# --- context pieces --------------------------------------------------------------------------


def _parent(wf: WorkflowRow) -> ParentInfo:
    return ParentInfo(WorkflowInfo(wf.id, wf.name))


def _handle(ex: Execution, wf: WorkflowRow, task: TaskRow, tdef: TaskDef) -> TaskHandle:
    generation = task.generation

    def stats() -> TaskStats:
        return TaskStats(*ex.uow.stats(wf.id, task.name, generation))

    return TaskHandle(task.name, generation, tdef.path, stats)


def _work_item_ids(
    ex: Execution, wf: WorkflowRow, task: str, generation: int
) -> Callable[[], list[str]]:
    def ids() -> list[str]:
        return [w.id for w in ex.uow.generation_work_items(wf.id, task, generation)]

    return ids


def _child_ids(
    ex: Execution, wf: WorkflowRow, task: str, generation: int, name: str | None
) -> Callable[[], list[str]]:
    def ids() -> list[str]:
        children = ex.uow.generation_children(wf.id, task, generation)
        return [c.id for c in children if name is None or c.name == name]

    return ids


def _not_here(what: str, where: str) -> Callable[..., str]:
    def refuse(payload: Any = None) -> str:
        raise TasquencerError(
            f"{what} cannot be initialized from {where}; do it in the task's activities"
        )

    return refuse
