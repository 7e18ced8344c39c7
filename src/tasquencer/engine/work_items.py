"""Work items: initialize, start, complete, fail, cancel and reset (SEMANTICS.md §9.1).

Each operation checks its guard and validates its payload before anything changes, runs the
action (custom callback, or the default: internal callers only, then the transition), counts the
transition in the task generation's stats, fires the activity and reports to the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasquencer.engine import auto_triggers, tasks
from tasquencer.engine.contexts import (
    AutoTrigger,
    ParentInfo,
    ScheduleScope,
    TaskInfo,
    WorkflowInfo,
    WorkItemActor,
    WorkItemContext,
    WorkItemHandle,
)
from tasquencer.engine.definitions import WorkItemDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.payloads import ActionDef
from tasquencer.engine.transitions import count_child_transition, note_jobs, set_work_item_state
from tasquencer.errors import (
    NotInternalMutationError,
    TaskInvalidStateError,
    WorkItemInvalidStateError,
)
from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow

FINISH_STATES = {"complete": "completed", "fail": "failed"}


def initialize(
    ex: Execution,
    wf: WorkflowRow,
    task: TaskRow,
    payload: Any,
    *,
    internal: bool,
    queue: auto_triggers.TriggerQueue | None = None,
) -> str:
    """Create a work item in the task's current generation and return its id."""
    tdef = ex.task_definition(wf, task)
    if tdef.work_item is None:
        raise TaskInvalidStateError(
            f"{wf.name}/{task.name}",
            task.state,
            ["a task with work items"],
            message=f"task {task.name!r} is a {tdef.kind} task; it has no work items",
        )
    _require_active(wf, task, task.generation)
    widef = tdef.work_item
    action = widef.actions["initialize"]
    parsed = _parse(action, payload, internal, widef)
    generation = task.generation
    created: list[WorkItemRow] = []

    def create() -> str:
        if not created:
            _require_active(wf, task, generation)
            now = ex.now()
            row = WorkItemRow(
                id=ex.services.new_id(),
                name=widef.name,
                workflow_id=wf.id,
                root_workflow_id=wf.root_workflow_id,
                task_name=task.name,
                task_generation=generation,
                state="initialized",
                has_jobs=False,
                created_at=now,
                updated_at=now,
            )
            ex.uow.add_work_item(row)
            created.append(row)
            count_child_transition(
                ex, task, generation, tdef.stats_shards, row.id, None, "initialized"
            )
        return created[0].id

    parent = ParentInfo(WorkflowInfo(wf.id, wf.name), TaskInfo(task.name, generation, tdef.path))
    if action.callback is not None:

        def jobs_key() -> str:
            create()
            return _jobs_key(ex, created[0])

        scope = ScheduleScope(jobs_key)
        actor = WorkItemActor(widef.name, "initialize", create, None)
        action.callback(WorkItemContext(ex, internal, scope, parent, actor), parsed)  # type: ignore[arg-type]
    create()
    item = created[0]
    trigger = _activity(ex, item, widef, parent, "on_initialized", internal, ("start",))
    if trigger is not None and trigger.action is not None:
        if queue is not None:
            queue.add(item.id, trigger.action, trigger.payload)
        else:
            auto_triggers.run(ex, item.id, trigger.action, trigger.payload)
    return item.id


def start(ex: Execution, item: WorkItemRow, payload: Any, *, internal: bool) -> None:
    _require_state(item, ("initialized",), "start")
    wf, task, widef = _context_of(ex, item)
    if task.generation != item.task_generation or task.state not in tasks.ACTIVE_STATES:
        raise WorkItemInvalidStateError(
            item.id,
            item.state,
            ["initialized"],
            message=(
                f"work item {item.id} cannot start: its task {task.name!r} "
                f"(generation {item.task_generation}) is no longer enabled or started"
            ),
        )
    action = widef.actions["start"]
    parsed = _parse(action, payload, internal, widef)
    tasks.ensure_started(ex, wf, task, internal)
    if item.state != "initialized":
        return  # the task's start cascade tore this work item down

    perform = _Transition(ex, item, "started")
    parent = _parent(wf, task, widef, item)
    scope = _active_scope(ex, item)
    _run_action(ex, action, widef, parent, internal, perform, scope, item.id, parsed)
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(ex, task, widef, item, "initialized", "started")
    trigger = _activity(
        ex, item, widef, parent, "on_started", internal, ("complete", "fail", "cancel")
    )
    if trigger is not None and trigger.action is not None:
        auto_triggers.run(ex, item.id, trigger.action, trigger.payload)
    tasks.work_item_state_changed(
        ex,
        wf,
        task,
        item,
        "initialized",
        "started",
        call_policy=False,
        teardown=False,
        internal=internal,
    )


def finish(
    ex: Execution, item: WorkItemRow, payload: Any, action_name: str, *, internal: bool
) -> None:
    """Complete or fail a started work item (`action_name` is "complete" or "fail")."""
    _require_state(item, ("started",), action_name)
    state = FINISH_STATES[action_name]
    wf, task, widef = _context_of(ex, item)
    action = widef.actions[action_name]
    parsed = _parse(action, payload, internal, widef)
    perform = _Transition(ex, item, state)
    parent = _parent(wf, task, widef, item)
    _run_action(
        ex, action, widef, parent, internal, perform, _refused(action_name, widef), item.id, parsed
    )
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(ex, task, widef, item, "started", state)
    _cancel_jobs(ex, item)
    _activity(ex, item, widef, parent, f"on_{state}", internal, ())
    tasks.work_item_state_changed(
        ex, wf, task, item, "started", state, call_policy=True, teardown=False, internal=internal
    )


def cancel(
    ex: Execution, item: WorkItemRow, payload: Any, *, internal: bool, teardown: bool = False
) -> None:
    """Cancel an initialized or started work item; a teardown skips the action and the policy."""
    _require_state(item, ("initialized", "started"), "cancel")
    prev = item.state
    wf, task, widef = _context_of(ex, item)
    perform = _Transition(ex, item, "canceled")
    parent = _parent(wf, task, widef, item)
    if not teardown:
        action = widef.actions["cancel"]
        parsed = _parse(action, payload, internal, widef)
        _run_action(
            ex, action, widef, parent, internal, perform, _refused("cancel", widef), item.id, parsed
        )
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(ex, task, widef, item, prev, "canceled")
    _cancel_jobs(ex, item)
    _activity(ex, item, widef, parent, "on_canceled", internal, ())
    tasks.work_item_state_changed(
        ex,
        wf,
        task,
        item,
        prev,
        "canceled",
        call_policy=not teardown,
        teardown=teardown,
        internal=internal,
    )


def reset(ex: Execution, item: WorkItemRow, payload: Any, *, internal: bool) -> None:
    """Put a started work item back to initialized; its task stays started, no policy runs."""
    _require_state(item, ("started",), "reset")
    wf, task, widef = _context_of(ex, item)
    action = widef.actions["reset"]
    parsed = _parse(action, payload, internal, widef)
    perform = _Transition(ex, item, "initialized")
    parent = _parent(wf, task, widef, item)
    _run_action(
        ex, action, widef, parent, internal, perform, _refused("reset", widef), item.id, parsed
    )
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(ex, task, widef, item, "started", "initialized")
    _cancel_jobs(ex, item)
    _activity(ex, item, widef, parent, "on_reset", internal, ())
    tasks.work_item_state_changed(
        ex,
        wf,
        task,
        item,
        "started",
        "initialized",
        call_policy=False,
        teardown=False,
        internal=internal,
    )


# --- pieces ----------------------------------------------------------------------------------


def _require_active(wf: WorkflowRow, task: TaskRow, generation: int) -> None:
    """Work items are created only in their task's current, enabled or started, generation."""
    if task.state not in tasks.ACTIVE_STATES or task.generation != generation:
        raise TaskInvalidStateError(
            f"{task.name!r} of workflow {wf.id}",
            task.state,
            tasks.ACTIVE_STATES,
            f"work items are created only while their task is enabled or started "
            f"(generation {generation}; the task is at generation {task.generation})",
        )


def _require_state(item: WorkItemRow, allowed: tuple[str, ...], action: str) -> None:
    if item.state not in allowed:
        raise WorkItemInvalidStateError(
            item.id, item.state, allowed, f"cannot {action} work item {item.name!r}"
        )


def _parse(action: ActionDef, payload: Any, internal: bool, widef: WorkItemDef) -> Any:
    parsed = action.parse(payload)
    if action.is_default and not internal:
        raise NotInternalMutationError(
            f"the {action.name} action of work item {widef.name!r} is a default action, which "
            f"only internal callers may use: call api.internal_{action.name}_work_item(...), or "
            "give the work item a custom action with Builder.work_item_actions()"
        )
    return parsed


def _run_action(
    ex: Execution,
    action: ActionDef,
    widef: WorkItemDef,
    parent: ParentInfo,
    internal: bool,
    perform: Callable[[], str],
    scope: ScheduleScope,
    item_id: str,
    parsed: Any,
) -> None:
    if action.callback is None:
        perform()
        return
    actor = WorkItemActor(widef.name, action.name, perform, item_id)
    action.callback(WorkItemContext(ex, internal, scope, parent, actor), parsed)  # type: ignore[arg-type]


class _Transition:
    """An action's transition function (`ctx.work_item.complete()`...): idempotent, and a
    no-op once something else has moved the work item on."""

    __slots__ = ("_done", "_ex", "_from", "_item", "_to")

    def __init__(self, ex: Execution, item: WorkItemRow, to: str) -> None:
        self._ex = ex
        self._item = item
        self._from = item.state
        self._to = to
        self._done = False

    def __call__(self) -> str:
        if not self._done and self._item.state == self._from:
            set_work_item_state(self._ex, self._item, self._to)
            self._done = True
        return self._item.id

    def happened(self) -> bool:
        """Perform the transition if the action did not; whether it took place at all."""
        self()
        return self._done


def _activity(
    ex: Execution,
    item: WorkItemRow,
    widef: WorkItemDef,
    parent: ParentInfo,
    name: str,
    internal: bool,
    triggers: tuple[str, ...],
) -> AutoTrigger | None:
    activity = widef.activities.get(name)
    if activity is None:
        return None
    trigger = AutoTrigger() if triggers else None
    scope = _active_scope(ex, item) if triggers else _refused(name, widef)
    handle = WorkItemHandle(item.id, item.name, trigger, triggers)
    activity(WorkItemContext(ex, internal, scope, parent, handle))
    return trigger


def _active_scope(ex: Execution, item: WorkItemRow) -> ScheduleScope:
    return ScheduleScope(lambda: _jobs_key(ex, item))


def _jobs_key(ex: Execution, item: WorkItemRow) -> str:
    note_jobs(ex, item, True)
    return f"work_item/{item.id}"


def _refused(where: str, widef: WorkItemDef) -> ScheduleScope:
    return ScheduleScope.refused(f"{where} of work item {widef.name!r}")


def _cancel_jobs(ex: Execution, item: WorkItemRow) -> None:
    if item.has_jobs:
        ex.services.jobs.cancel_registered(f"work_item/{item.id}")
        note_jobs(ex, item, False)


def _count(
    ex: Execution, task: TaskRow, widef: WorkItemDef, item: WorkItemRow, prev: str, next: str
) -> None:
    count_child_transition(
        ex, task, item.task_generation, widef.task.stats_shards, item.id, prev, next
    )


def _context_of(ex: Execution, item: WorkItemRow) -> tuple[WorkflowRow, TaskRow, WorkItemDef]:
    wf = ex.workflow(item.workflow_id)
    task = ex.uow.tasks(wf.id)[item.task_name]
    widef = ex.task_definition(wf, task).work_item
    assert widef is not None
    return wf, task, widef


def _parent(wf: WorkflowRow, task: TaskRow, widef: WorkItemDef, item: WorkItemRow) -> ParentInfo:
    return ParentInfo(
        WorkflowInfo(wf.id, wf.name),
        TaskInfo(task.name, item.task_generation, widef.task.path),
    )
