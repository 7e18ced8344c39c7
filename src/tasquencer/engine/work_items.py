"""Work items: initialize, start, complete, fail, cancel and reset.

Each operation checks its guard and validates its payload before anything changes, runs the
action (custom callback, or the default: internal callers only, then the transition), counts the
transition in the task generation's stats, fires the activity and reports to the task.
"""

from __future__ import annotations

from collections.abc import Callable

from tasquencer.contexts import Caller
from tasquencer.engine import auto_triggers, tasks
from tasquencer.engine.contexts import (
    AutoTrigger,
    OfferWriter,
    ScheduleScope,
    WorkItemActionCtx,
    WorkItemActivityCtx,
    WorkItemActor,
    WorkItemHandle,
)
from tasquencer.engine.definitions import WorkItemDef
from tasquencer.engine.instances import TaskInstance, WorkItemInstance
from tasquencer.engine.offers import offer_work_item
from tasquencer.engine.payloads import ActionDef
from tasquencer.engine.transitions import (
    cancel_tied_jobs,
    count_child_transition,
    create_work_item,
    set_work_item_state,
    tie_job,
)
from tasquencer.errors import (
    NotInternalMutationError,
    TaskInvalidStateError,
    WorkItemInvalidStateError,
)
from tasquencer.records import Offer

FINISH_STATES = {"complete": "completed", "fail": "failed"}
_ON = {state: f"on_{state}" for state in FINISH_STATES.values()}


def initialize(
    task: TaskInstance,
    payload: object,
    caller: Caller,
    *,
    queue: auto_triggers.TriggerQueue | None = None,
) -> str:
    """Create a work item in the task's current generation and return its id."""
    tdef = task.definition
    if tdef.work_item is None:
        raise TaskInvalidStateError(
            f"{task.workflow.name}/{task.name}",
            task.row.state,
            ["a task with work items"],
            message=f"task {task.name!r} is a {tdef.kind} task; it has no work items",
        )
    _require_active(task, task.row.generation)
    widef = tdef.work_item
    action = widef.actions["initialize"]
    parsed = _parse(action, payload, caller, widef)
    generation = task.row.generation
    created: list[WorkItemInstance] = []

    def create() -> str:
        if not created:
            _require_active(task, generation)
            item = create_work_item(task, generation)
            created.append(item)
            count_child_transition(task, generation, item.id, None, "initialized")
        return created[0].id

    offered: list[Offer] = []

    def offer(given: Offer) -> None:
        create()
        offer_work_item(created[0], given)
        offered.append(given)

    if action.callback is not None:

        def tie(job_id: str) -> None:
            create()
            tie_job(task.ex, created[0].row, job_id)

        actor = WorkItemActor(widef.name, "initialize", create, None, offer)
        parent = task.owner_of(generation)
        action.callback(
            WorkItemActionCtx(task.ex, caller, ScheduleScope(tie), parent, actor), parsed
        )
    create()
    item = created[0]
    if widef.offer is not None and not offered:
        _builder_offer(item, caller)
    trigger = _activity(item, "on_initialized", caller, ("start",), offer)
    if trigger is not None and trigger.action is not None:
        if queue is not None:
            queue.add(item.id, trigger.action, trigger.payload, caller)
        else:
            auto_triggers.run(task.ex, item.id, trigger.action, trigger.payload, caller)
    return item.id


def start(item: WorkItemInstance, payload: object, caller: Caller) -> None:
    _require_state(item, ("initialized",), "start")
    task, widef = item.task, item.definition
    if task.row.generation != item.row.task_generation or task.row.state not in tasks.ACTIVE_STATES:
        raise WorkItemInvalidStateError(
            item.id,
            item.row.state,
            ["initialized"],
            message=(
                f"work item {item.id} cannot start: its task {task.name!r} "
                f"(generation {item.row.task_generation}) is no longer enabled or started"
            ),
        )
    action = widef.actions["start"]
    parsed = _parse(action, payload, caller, widef)
    tasks.ensure_started(task, caller)
    if item.row.state != "initialized":
        return  # the task's start cascade tore this work item down

    perform = _Transition(item, "started")
    _run_action(item, action, caller, perform, lambda: _active_scope(item), parsed)
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(item, "initialized", "started")
    trigger = _activity(item, "on_started", caller, ("complete", "fail", "cancel"))
    if trigger is not None and trigger.action is not None:
        auto_triggers.run(item.ex, item.id, trigger.action, trigger.payload, caller)
    tasks.work_item_state_changed(
        task, item, "initialized", "started", call_policy=False, teardown=False, caller=caller
    )


def finish(item: WorkItemInstance, payload: object, action_name: str, caller: Caller) -> None:
    """Complete or fail a started work item (`action_name` is "complete" or "fail")."""
    _require_state(item, ("started",), action_name)
    state = FINISH_STATES[action_name]
    widef = item.definition
    action = widef.actions[action_name]
    parsed = _parse(action, payload, caller, widef)
    perform = _Transition(item, state)
    _run_action(item, action, caller, perform, lambda: _refused(action_name, widef), parsed)
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(item, "started", state)
    _cancel_jobs(item)
    _activity(item, _ON[state], caller, ())
    tasks.work_item_state_changed(
        item.task, item, "started", state, call_policy=True, teardown=False, caller=caller
    )


def cancel(
    item: WorkItemInstance, payload: object, caller: Caller, *, teardown: bool = False
) -> None:
    """Cancel an initialized or started work item; a teardown skips the action and the policy."""
    _require_state(item, ("initialized", "started"), "cancel")
    prev = item.row.state
    widef = item.definition
    perform = _Transition(item, "canceled")
    if not teardown:
        action = widef.actions["cancel"]
        parsed = _parse(action, payload, caller, widef)
        _run_action(item, action, caller, perform, lambda: _refused("cancel", widef), parsed)
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(item, prev, "canceled")
    _cancel_jobs(item)
    _activity(item, "on_canceled", caller, ())
    tasks.work_item_state_changed(
        item.task,
        item,
        prev,
        "canceled",
        call_policy=not teardown,
        teardown=teardown,
        caller=caller,
    )


def reset(item: WorkItemInstance, payload: object, caller: Caller) -> None:
    """Put a started work item back to initialized; its task stays started, no policy runs."""
    _require_state(item, ("started",), "reset")
    widef = item.definition
    action = widef.actions["reset"]
    parsed = _parse(action, payload, caller, widef)
    perform = _Transition(item, "initialized")
    _run_action(item, action, caller, perform, lambda: _refused("reset", widef), parsed)
    if not perform.happened():
        return  # the action's own cascade moved this work item on
    _count(item, "started", "initialized")
    _cancel_jobs(item)
    _activity(item, "on_reset", caller, ())
    tasks.work_item_state_changed(
        item.task, item, "started", "initialized", call_policy=False, teardown=False, caller=caller
    )


# --- pieces ----------------------------------------------------------------------------------


def _require_active(task: TaskInstance, generation: int) -> None:
    """Work items are created only in their task's current, enabled or started, generation."""
    row = task.row
    if row.state not in tasks.ACTIVE_STATES or row.generation != generation:
        raise TaskInvalidStateError(
            f"{row.name!r} of workflow {task.workflow.id}",
            row.state,
            tasks.ACTIVE_STATES,
            f"work items are created only while their task is enabled or started "
            f"(generation {generation}; the task is at generation {row.generation})",
        )


def _require_state(item: WorkItemInstance, allowed: tuple[str, ...], action: str) -> None:
    if item.row.state not in allowed:
        raise WorkItemInvalidStateError(
            item.id, item.row.state, allowed, f"cannot {action} work item {item.row.name!r}"
        )


def _parse(action: ActionDef, payload: object, caller: Caller, widef: WorkItemDef) -> object:
    parsed = action.parse(payload)
    if action.is_default and not caller.is_internal:
        raise NotInternalMutationError(
            f"the {action.name} action of work item {widef.name!r} is a default action, which "
            f"only internal callers may use: call api.internal_{action.name}_work_item(...), or "
            "give the work item a custom action with Builder.work_item_actions()"
        )
    return parsed


def _run_action(
    item: WorkItemInstance,
    action: ActionDef,
    caller: Caller,
    perform: Callable[[], str],
    scope: Callable[[], ScheduleScope],
    parsed: object,
) -> None:
    """Run the action's callback (with the work item's ctx) or, by default, the transition."""
    if action.callback is None:
        perform()
        return
    actor = WorkItemActor(item.definition.name, action.name, perform, item.id)
    ctx = WorkItemActionCtx(item.ex, caller, scope(), item.parent(), actor)
    action.callback(ctx, parsed)


class _Transition:
    """An action's transition function (`ctx.work_item.complete()`...): idempotent, and a
    no-op once something else has moved the work item on."""

    __slots__ = ("_done", "_from", "_item", "_to")

    def __init__(self, item: WorkItemInstance, to: str) -> None:
        self._item = item
        self._from = item.row.state
        self._to = to
        self._done = False

    def __call__(self) -> str:
        if not self._done and self._item.row.state == self._from:
            set_work_item_state(self._item, self._to)
            self._done = True
        return self._item.id

    def happened(self) -> bool:
        """Perform the transition if the action did not; whether it took place at all."""
        self()
        return self._done


def _activity(
    item: WorkItemInstance,
    name: str,
    caller: Caller,
    triggers: tuple[str, ...],
    offer: OfferWriter | None = None,
) -> AutoTrigger | None:
    widef = item.definition
    activity = widef.activities.get(name)
    if activity is None:
        return None
    trigger = AutoTrigger() if triggers else None
    scope = _active_scope(item) if triggers else _refused(name, widef)
    handle = WorkItemHandle(item.id, item.row.name, trigger, triggers, offer)
    recorder = item.ex.recorder
    recorder.activity_started("WorkItemActivity", name, item.task.workflow, item.id)
    activity(WorkItemActivityCtx(item.ex, caller, scope, item.parent(), handle))
    recorder.activity_ended()
    return trigger


def _builder_offer(item: WorkItemInstance, caller: Caller) -> None:
    """The offer `with_offer` declared: as given, or computed from the work item's ctx."""
    source = item.definition.offer
    if isinstance(source, Offer):
        offer_work_item(item, source)
        return
    assert source is not None
    handle = WorkItemHandle(item.id, item.row.name, None, ())
    scope = _refused("the offer function", item.definition)
    computed = source(WorkItemActivityCtx(item.ex, caller, scope, item.parent(), handle))
    if computed is not None:
        offer_work_item(item, computed)


def _active_scope(item: WorkItemInstance) -> ScheduleScope:
    return ScheduleScope(lambda job_id: tie_job(item.ex, item.row, job_id))


def _refused(where: str, widef: WorkItemDef) -> ScheduleScope:
    return ScheduleScope.refused(f"{where} of work item {widef.name!r}")


def _cancel_jobs(item: WorkItemInstance) -> None:
    cancel_tied_jobs(item.ex, item.row)


def _count(item: WorkItemInstance, prev: str, next: str) -> None:
    count_child_transition(item.task, item.row.task_generation, item.id, prev, next)
