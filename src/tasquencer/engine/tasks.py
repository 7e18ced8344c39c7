"""Tasks: enabling follows the marking, starting consumes, completing routes and produces.

After every step that changes a workflow's marking (a start, a completion with its region) the
workflow is swept: each task that is not started is enabled if its join holds and it is not
enabled, disabled if it is enabled and its join no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tasquencer.contexts import Caller, PolicyResult, TaskStats, Transition, WorkflowInfo
from tasquencer.engine import auto_triggers, migrations, work_items, workflows
from tasquencer.engine.contexts import (
    ChildWorkflows,
    CompositeActivityCtx,
    CompositeMigratorCtx,
    DummyActivityCtx,
    DynamicChildWorkflows,
    DynamicCompositeActivityCtx,
    DynamicMigratorCtx,
    PolicyCtx,
    RouterCtx,
    ScheduleScope,
    StateChange,
    TaskActivityCtx,
    TaskCtx,
    TaskHandle,
    TaskWorkItems,
    WorkItemMigratorCtx,
)
from tasquencer.engine.definitions import WorkflowDef
from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
from tasquencer.engine.policies import checked_result, decide_on_counts
from tasquencer.engine.routing import RouteBuilder, routed_conditions
from tasquencer.engine.transitions import (
    FINAL_STATES,
    add_tokens,
    cancel_tied_jobs,
    clear_condition,
    count_child_transition,
    open_task_generation,
    set_task_state,
    tie_task_job,
)
from tasquencer.errors import TaskInvalidStateError, TasquencerError
from tasquencer.net.firing import consumed_conditions, join_holds, produced_conditions
from tasquencer.store.rows import TaskRow

ACTIVE_STATES = ("enabled", "started")
FAST_FORWARD = "fastForward"
_OPEN = ("initialized", "started")


# --- the sweep -------------------------------------------------------------------------------


def sweep(wf: WorkflowInstance, caller: Caller) -> None:
    """Bring every task that is not started in line with the marking, in definition order.

    Only tasks next to a condition that changed, tasks that changed state, and OR-joins (which
    look at the whole net) can be out of line, so only those are examined.
    """
    ex = wf.ex
    candidates = ex.take_sweep_candidates(wf.id)
    if _closed(wf):
        return
    net = wf.definition.net
    rows = ex.uow.tasks(wf.id)
    marking = wf.marking()
    examined = candidates | net.or_joins if net.or_joins else candidates
    for name in sorted(examined, key=net.position.__getitem__):
        state = rows[name].state
        if state == "started":
            continue
        started = _started(rows) if name in net.or_joins else ()
        if join_holds(net, name, marking, started):
            if state != "enabled":
                enable(wf.task(name), caller)
        elif state == "enabled":
            disable(wf.task(name), caller)
        if _closed(wf):
            return


def _closed(wf: WorkflowInstance) -> bool:
    return wf.row.state in FINAL_STATES or wf.row.id in wf.ex.closing


def _started(rows: dict[str, TaskRow]) -> frozenset[str]:
    return frozenset(name for name, row in rows.items() if row.state == "started")


# --- transitions -----------------------------------------------------------------------------


def enable(task: TaskInstance, caller: Caller) -> None:
    open_task_generation(task)
    migrated = task.row.execution_mode == FAST_FORWARD and task.definition.kind != "dummy"
    # A task of a migrated instance: its migrator says whether its work is done; then it is
    # fast-forwarded, or finished by what the migrator created, or it goes on as usual.
    if migrated and (migrations.consult_migrator(task, caller) or task.row.state != "enabled"):
        return
    _run_activity(task, "on_enabled", caller, active=True)
    if task.definition.kind == "dummy" and task.row.state == "enabled":
        ensure_started(task, caller)
        complete(task, caller)


def disable(task: TaskInstance, caller: Caller) -> None:
    set_task_state(task, "disabled")
    _end_generation(task, "on_disabled", caller)


def cancel(task: TaskInstance, caller: Caller) -> None:
    """Cancel an enabled or started task (cancellation region, workflow shutdown)."""
    set_task_state(task, "canceled")
    _end_generation(task, "on_canceled", caller)


def fail(task: TaskInstance, caller: Caller) -> None:
    if task.row.state != "started":
        return
    set_task_state(task, "failed")
    _end_generation(task, "on_failed", caller)


def ensure_started(task: TaskInstance, caller: Caller, *, silent: bool = False) -> None:
    """Start an enabled task (idempotent): its first child starts, or it is a dummy task.

    A silent start (the replay of a migration) fires no `on_started` and asks no policy.
    """
    row = task.row
    if row.state == "started":
        return
    wf = task.workflow
    if row.state != "enabled":
        raise TaskInvalidStateError(
            f"{row.name!r} of workflow {wf.id}", row.state, ACTIVE_STATES, "cannot start it"
        )
    workflows.ensure_started(wf, caller, silent=silent)
    if row.state != "enabled":
        return  # starting the workflow (and its parent composite) tore this task down
    set_task_state(task, "started")
    for condition in consumed_conditions(wf.definition.net, row.name, wf.marking()):
        add_tokens(wf, condition, -1)
    sweep(wf, caller)
    if row.state != "started" or silent:
        return
    _run_activity(task, "on_started", caller, active=True)
    if task.definition.kind != "dummy" and row.state == "started":
        evaluate_policy(task, "started", "completed", caller)


def complete(task: TaskInstance, caller: Caller) -> None:
    """Complete a started task once: teardown, region, tokens, then the sweep."""
    if task.row.state != "started":
        return
    ex = task.ex
    if ex.execution_mode == FAST_FORWARD:
        # A task finished by its own work during a migration's replay completes as usual,
        # and its callbacks see it so (the migrated part of the replay is `fast_forward`).
        ex.execution_mode = "normal"
        try:
            _complete(task, caller, silent=False)
        finally:
            ex.execution_mode = FAST_FORWARD
        return
    _complete(task, caller, silent=False)


def fast_forward(task: TaskInstance, caller: Caller) -> None:
    """Start and complete an enabled task whose work was done before a migration: no
    activities of its own, no work items, no policy; its region, router and tokens as usual."""
    ensure_started(task, caller, silent=True)
    if task.row.state == "started":
        _complete(task, caller, silent=True)


def _complete(task: TaskInstance, caller: Caller, *, silent: bool) -> None:
    set_task_state(task, "completed")
    if not silent:
        _end_generation(task, "on_completed", caller)
    _cancel_region_and_produce(task, caller)
    wf = task.workflow
    if wf.marking()[wf.definition.net.end] > 0 and wf.row.state == "started":
        workflows.complete(wf, caller)
    else:
        sweep(wf, caller)


def _cancel_region_and_produce(task: TaskInstance, caller: Caller) -> None:
    wf = task.workflow
    net = wf.definition.net
    region = net.region(task.name)
    for member in region.tasks:
        target = wf.task(member)
        if target.row.state in ACTIVE_STATES:
            cancel(target, caller)
    for condition in region.conditions:
        clear_condition(wf, condition)
    routed = None if task.definition.split == "and" else _route(task, caller)
    for condition in produced_conditions(net, task.name, routed):
        add_tokens(wf, condition, 1)


def _end_generation(task: TaskInstance, activity: str, caller: Caller) -> None:
    """What every end of a generation does: children torn down, jobs canceled, activity."""
    _tear_down_children(task, caller)
    cancel_task_jobs(task)
    _run_activity(task, activity, caller, active=False)


def _tear_down_children(task: TaskInstance, caller: Caller) -> None:
    kind = task.definition.kind
    if kind == "dummy":
        return
    ex = task.ex
    wf_id, name, generation = task.workflow.id, task.name, task.row.generation
    stats = ex.uow.stats(wf_id, name, generation)
    if stats[1] + stats[2] == 0:
        return
    if kind == "task":
        for item in _initialized_then_started(
            ex.uow.generation_work_items(wf_id, name, generation)
        ):
            if item.state in _OPEN:
                work_items.cancel(ex.work_item_of(item), None, caller, teardown=True)
    else:
        for child in _initialized_then_started(ex.uow.generation_children(wf_id, name, generation)):
            if child.state in _OPEN:
                workflows.cancel(ex.instance_of(child), None, caller, teardown=True)


class _Child(Protocol):
    @property
    def state(self) -> str: ...


C = TypeVar("C", bound=_Child)


def _initialized_then_started(rows: list[C]) -> list[C]:
    return [r for r in rows if r.state == "initialized"] + [r for r in rows if r.state == "started"]


# --- children report their state changes -----------------------------------------------------


def work_item_state_changed(
    task: TaskInstance,
    item: WorkItemInstance,
    prev: str,
    next: str,
    *,
    call_policy: bool,
    teardown: bool,
    caller: Caller,
) -> None:
    row = task.row
    current = row.generation == item.row.task_generation and row.state in ACTIVE_STATES
    if task.definition.activities.get("on_work_item_state_changed") is not None:
        _run_activity(
            task,
            "on_work_item_state_changed",
            caller,
            active=current and not teardown,
            change=StateChange(item.id, prev, next),
        )
    if call_policy and next in FINAL_STATES and current and row.state == "started":
        evaluate_policy(task, prev, next, caller)


def workflow_state_changed(
    task: TaskInstance,
    child: WorkflowInstance,
    prev: str,
    next: str,
    *,
    call_policy: bool,
    teardown: bool,
    caller: Caller,
) -> None:
    row = task.row
    generation = child.row.parent_task_generation or 0
    count_child_transition(task, generation, child.id, prev, next)
    current = row.generation == generation and row.state in ACTIVE_STATES
    _run_activity(
        task,
        "on_workflow_state_changed",
        caller,
        active=current and not teardown,
        change=StateChange(child.id, prev, next),
        child_name=child.name,
    )
    if call_policy and next in FINAL_STATES and current and row.state == "started":
        evaluate_policy(task, prev, next, caller)


# --- policies and routers --------------------------------------------------------------------


def evaluate_policy(task: TaskInstance, prev: str, next: str, caller: Caller) -> None:
    """Ask the task's policy what a child's transition `prev` -> `next` means for it."""
    tdef = task.definition
    if tdef.policy is None:  # the default policy needs no context
        uow, key = task.ex.uow, (task.workflow.id, task.name, task.row.generation)
        result = decide_on_counts(next, lambda: uow.stats(*key), composite=tdef.kind != "task")
    else:
        transition = Transition(prev, next)
        ctx = PolicyCtx(task.ex, caller, task.parent(), _handle(task), transition, *_views(task))
        result = checked_result(task.name, tdef.policy(ctx))
    if result is PolicyResult.COMPLETE:
        complete(task, caller)
    elif result is PolicyResult.FAIL:
        fail(task, caller)
        wf = task.workflow
        if wf.row.state == "started":
            workflows.fail(wf, caller)


def _route(task: TaskInstance, caller: Caller) -> list[str]:
    tdef = task.definition
    assert tdef.router is not None
    ctx = RouterCtx(
        task.ex,
        caller,
        task.parent(),
        _handle(task),
        RouteBuilder(task.name),
        *_views(task),
    )
    return routed_conditions(task.name, tdef.split, tdef.router(ctx))


Views = tuple[TaskWorkItems | None, ChildWorkflows | None, list[ChildWorkflows] | None]


def _views(task: TaskInstance) -> Views:
    """Read-only views of a generation's children for policies and routers: the work items
    (task), the child workflows (composite), or one view per child workflow (dynamic)."""
    tdef = task.definition
    generation = task.row.generation
    if tdef.kind == "task":
        assert tdef.work_item is not None
        items = TaskWorkItems(
            tdef.work_item.name,
            tdef.work_item.path,
            _work_item_ids(task, generation),
            _not_here("work items", "a policy or router"),
        )
        return items, None, None
    if tdef.kind == "dummy":
        return None, None, None
    views = [
        ChildWorkflows(
            child.name,
            child.path,
            _child_ids(task, generation, child.name),
            _not_here("child workflows", "a policy or router"),
        )
        for child in tdef.children.values()
    ]
    if tdef.kind == "composite":
        return None, views[0], None
    return None, None, views


# --- activities ------------------------------------------------------------------------------


def _run_activity(
    task: TaskInstance,
    name: str,
    caller: Caller,
    *,
    active: bool,
    change: StateChange | None = None,
    child_name: str | None = None,
) -> None:
    activity = task.definition.activities.get(name)
    if activity is None:
        return
    queue = auto_triggers.TriggerQueue()
    recorder = task.ex.recorder
    recorder.activity_started("TaskActivity", name, task.workflow, task.name)
    activity(_activity_context(task, name, caller, active, queue, change, child_name))
    recorder.activity_ended()
    auto_triggers.drain(task.ex, queue)


def _activity_context(
    task: TaskInstance,
    activity: str,
    caller: Caller,
    active: bool,
    queue: auto_triggers.TriggerQueue,
    change: StateChange | None,
    child_name: str | None,
) -> TaskCtx:
    ex = task.ex
    scope = _schedule_scope(task, activity, active)
    parent, handle = task.parent(), _handle(task)
    children = _children(task, caller, queue, change, child_name, None)
    if isinstance(children, TaskWorkItems):
        return TaskActivityCtx(ex, caller, scope, parent, handle, children)
    if isinstance(children, ChildWorkflows):
        return CompositeActivityCtx(ex, caller, scope, parent, handle, children)
    if isinstance(children, DynamicChildWorkflows):
        return DynamicCompositeActivityCtx(ex, caller, scope, parent, handle, children)
    return DummyActivityCtx(ex, caller, scope, parent, handle)


def migrator_context(
    task: TaskInstance,
    caller: Caller,
    queue: auto_triggers.TriggerQueue,
    created: list[str],
    migrating_from: WorkflowInfo,
) -> TaskCtx:
    """The ctx of a task migrator: it may create the task's children (noted in `created`)."""
    ex = task.ex
    scope = _schedule_scope(task, "migrator", True)
    parent, handle = task.parent(), _handle(task)
    children = _children(task, caller, queue, None, None, created)
    if isinstance(children, TaskWorkItems):
        return WorkItemMigratorCtx(ex, caller, scope, parent, handle, migrating_from, children)
    if isinstance(children, ChildWorkflows):
        return CompositeMigratorCtx(ex, caller, scope, parent, handle, migrating_from, children)
    assert isinstance(children, DynamicChildWorkflows)
    return DynamicMigratorCtx(ex, caller, scope, parent, handle, migrating_from, children)


def _children(
    task: TaskInstance,
    caller: Caller,
    queue: auto_triggers.TriggerQueue,
    change: StateChange | None,
    child_name: str | None,
    created: list[str] | None,
) -> TaskWorkItems | ChildWorkflows | DynamicChildWorkflows | None:
    """What a task's callbacks see of its generation's children, and can create (internally,
    on behalf of `caller`; work items' auto-triggers are queued in `queue`)."""
    tdef = task.definition
    generation = task.row.generation
    if tdef.kind == "task":
        assert tdef.work_item is not None

        def initialize_work_item(payload: object) -> str:
            item_id = work_items.initialize(task, payload, caller.as_internal(), queue=queue)
            if created is not None:
                created.append(item_id)
            return item_id

        return TaskWorkItems(
            tdef.work_item.name,
            tdef.work_item.path,
            _work_item_ids(task, generation),
            initialize_work_item,
            change,
        )
    if tdef.kind == "dummy":
        return None
    if tdef.kind == "composite":
        (child,) = tdef.children.values()
        return ChildWorkflows(
            child.name,
            child.path,
            _child_ids(task, generation, None),
            _child_initializer(task, child, caller, created),
            change,
        )
    return DynamicChildWorkflows(
        {name: child.path for name, child in tdef.children.items()},
        _child_ids(task, generation, None),
        {name: _child_initializer(task, c, caller, created) for name, c in tdef.children.items()},
        change,
        child_name,
    )


def _child_initializer(
    task: TaskInstance, child: WorkflowDef, caller: Caller, created: list[str] | None
) -> Callable[..., str]:
    def initialize(payload: object = None) -> str:
        workflow_id = workflows.initialize_child(task, child, payload, caller.as_internal())
        if created is not None:
            created.append(workflow_id)
        return workflow_id

    return initialize


def _schedule_scope(task: TaskInstance, activity: str, active: bool) -> ScheduleScope:
    if task.definition.kind == "dummy":
        return ScheduleScope(
            None,
            f"register_scheduled is not available for dummy task {task.name!r}: it completes "
            "as soon as it is enabled, so a job tied to it would be canceled at once. Use "
            "ctx.scheduler directly.",
        )
    if not active:
        return ScheduleScope.refused(f"the {activity} activity of task {task.name!r}")
    generation = task.row.generation
    return ScheduleScope(lambda job_id: tie_task_job(task, generation, job_id))


def cancel_task_jobs(task: TaskInstance) -> None:
    """Cancel the jobs tied to the task's current generation."""
    row = task.row
    if row.jobs_generation is not None and row.jobs_generation == row.generation:
        cancel_tied_jobs(task.ex, row)
        row.jobs_generation = None
        task.ex.uow.touch(row)


# --- context pieces --------------------------------------------------------------------------


def _handle(task: TaskInstance) -> TaskHandle:
    return TaskHandle(task.name, task.row.generation, task.definition.path, _stats_of(task))


def _stats_of(task: TaskInstance) -> Callable[[], TaskStats]:
    uow = task.ex.uow
    key = (task.workflow.id, task.name, task.row.generation)

    def stats() -> TaskStats:
        return TaskStats(*uow.stats(*key))

    return stats


def _work_item_ids(task: TaskInstance, generation: int) -> Callable[[], list[str]]:
    uow = task.ex.uow
    workflow_id, name = task.workflow.id, task.name

    def ids() -> list[str]:
        return [w.id for w in uow.generation_work_items(workflow_id, name, generation)]

    return ids


def _child_ids(task: TaskInstance, generation: int, name: str | None) -> Callable[[], list[str]]:
    uow = task.ex.uow
    workflow_id, task_name = task.workflow.id, task.name

    def ids() -> list[str]:
        children = uow.generation_children(workflow_id, task_name, generation)
        return [c.id for c in children if name is None or c.name == name]

    return ids


def _not_here(what: str, where: str) -> Callable[[object], str]:
    def refuse(payload: object = None) -> str:
        raise TasquencerError(
            f"{what} cannot be initialized from {where}; do it in the task's activities"
        )

    return refuse
