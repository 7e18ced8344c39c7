"""Activities (order, contexts) and auto-triggers (docs/semantics.md, sections 7, 9, 17.6,
17.7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import one_task_workflow

# --- helpers (local to this file) ------------------------------------------------------------


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def tree(api: Any, workflow_id: str) -> dict[str, Any]:
    """Snapshots of a workflow and all its descendants: 'nothing changed' compares these."""
    snapshots: dict[str, Any] = {}
    pending = [workflow_id]
    while pending:
        wid = pending.pop()
        snapshots[wid] = api.get_workflow_snapshot(wid)
        pending.extend(c.id for c in snapshots[wid].child_workflows)
    return snapshots


def recorder(log: list[str], prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Activities that append `prefix.name` to the log."""
    return {name: (lambda ctx, n=name: log.append(f"{prefix}.{n}")) for name in names}


def changed_recorder(log: list[str], prefix: str) -> Any:
    def on_changed(ctx: Any) -> None:
        log.append(f"{prefix}.changed[{ctx.work_item.prev_state}->{ctx.work_item.next_state}]")

    return on_changed


WF_ACTIVITIES = ("on_initialized", "on_started", "on_completed", "on_failed", "on_canceled")
ITEM_ACTIVITIES = ("on_initialized", "on_started", "on_completed", "on_failed", "on_canceled")
TASK_ACTIVITIES = ("on_started", "on_completed", "on_failed", "on_canceled", "on_disabled")


def recorded_workflow(log: list[str], item: Any = None, *, create_items: int = 1) -> Any:
    """start -> A -> end, every activity recorded; A's on_enabled creates work items."""

    def on_enabled(ctx: Any) -> None:
        log.append("A.on_enabled")
        for _ in range(create_items):
            ctx.work_item.initialize()

    item = item or Builder.work_item("item").with_activities(
        **recorder(log, "item", ITEM_ACTIVITIES)
    )
    task = Builder.task(item).with_activities(
        on_enabled=on_enabled,
        on_work_item_state_changed=changed_recorder(log, "A"),
        **recorder(log, "A", TASK_ACTIVITIES),
    )
    return one_task_workflow(task).with_activities(**recorder(log, "wf", WF_ACTIVITIES))


# --- order of activities ---------------------------------------------------------------------


def test_plain_run_fires_activities_in_lifecycle_order(app):
    log: list[str] = []
    api = register(app, recorded_workflow(log))

    wid = api.internal_initialize_root_workflow()
    assert log == ["wf.on_initialized", "A.on_enabled", "item.on_initialized"]

    log.clear()
    (wi,) = api.list_work_items(wid)
    api.internal_start_work_item(wi.id)
    assert log == [
        "wf.on_started",
        "A.on_started",
        "item.on_started",
        "A.changed[initialized->started]",
    ]

    log.clear()
    api.internal_complete_work_item(wi.id)
    assert log == [
        "item.on_completed",
        "A.changed[started->completed]",
        "A.on_completed",
        "wf.on_completed",
    ]


def test_task_activities_of_a_plain_run_follow_section_8_2(app):
    log: list[str] = []
    api = register(app, recorded_workflow(log))
    wid = api.internal_initialize_root_workflow()
    (wi,) = api.list_work_items(wid)
    api.internal_start_work_item(wi.id)
    api.internal_complete_work_item(wi.id)

    assert [entry for entry in log if entry.startswith("A.")] == [
        "A.on_enabled",
        "A.on_started",
        "A.changed[initialized->started]",
        "A.changed[started->completed]",
        "A.on_completed",
    ]


def test_workflow_on_initialized_fires_before_any_task_is_enabled(app):
    log: list[str] = []
    task = Builder.task(Builder.work_item("item")).with_activities(
        **recorder(log, "A", ("on_enabled",))
    )
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("A", task)
        .task(
            "B",
            Builder.task(Builder.work_item("other")).with_activities(
                **recorder(log, "B", ("on_enabled",))
            ),
        )
        .connect_condition("start", lambda to: to.task("A").task("B"))
        .connect_task("A", lambda to: to.condition("end"))
        .connect_task("B", lambda to: to.condition("end"))
        .with_activities(**recorder(log, "wf", WF_ACTIVITIES))
    )
    api = register(app, wf)
    api.internal_initialize_root_workflow()
    assert log == ["wf.on_initialized", "A.on_enabled", "B.on_enabled"]


def test_workflow_on_initialized_fires_first_even_when_a_dummy_task_completes_it(app):
    """§17.7 (the reference fired on_initialized last, after on_completed)."""
    log: list[str] = []
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .dummy_task(
            "d",
            Builder.dummy_task().with_activities(
                **recorder(log, "d", ("on_enabled", "on_started", "on_completed"))
            ),
        )
        .connect_condition("start", lambda to: to.task("d"))
        .connect_task("d", lambda to: to.condition("end"))
        .with_activities(**recorder(log, "wf", WF_ACTIVITIES))
    )
    api = register(app, wf)

    wid = api.internal_initialize_root_workflow()

    assert log == [
        "wf.on_initialized",
        "d.on_enabled",
        "wf.on_started",
        "d.on_started",
        "d.on_completed",
        "wf.on_completed",
    ]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "completed"
    assert snap.tasks["d"].state == "completed"
    assert snap.conditions == {"start": 0, "end": 1}


def test_workflow_on_initialized_fires_before_a_dummy_first_task_enables_the_next(app):
    log: list[str] = []
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .dummy_task(
            "d", Builder.dummy_task().with_activities(**recorder(log, "d", ("on_enabled",)))
        )
        .task(
            "A",
            Builder.task(Builder.work_item("item")).with_activities(
                **recorder(log, "A", ("on_enabled",))
            ),
        )
        .connect_condition("start", lambda to: to.task("d"))
        .connect_task("d", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
        .with_activities(**recorder(log, "wf", WF_ACTIVITIES))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    assert log == ["wf.on_initialized", "d.on_enabled", "wf.on_started", "A.on_enabled"]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "started"
    assert (snap.tasks["d"].state, snap.tasks["A"].state) == ("completed", "enabled")


# --- auto-triggers ---------------------------------------------------------------------------


def plain_task_workflow(item: Any) -> Any:
    """start -> A -> end where A creates no work item by itself (the test initializes it)."""
    return one_task_workflow(Builder.task(item))


def target(wid: str) -> dict[str, Any]:
    return {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}


def test_start_requested_in_on_initialized_starts_the_work_item(app):
    item = Builder.work_item("item").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start()
    )
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()

    wi = api.internal_initialize_work_item(target(wid))

    assert api.get_work_item_state(wi) == "started"
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("started", "started")


@pytest.mark.parametrize(
    ("request_", "item_state", "task_state", "workflow_state"),
    [
        ("complete", "completed", "completed", "completed"),
        ("fail", "failed", "failed", "failed"),
        ("cancel", "canceled", "completed", "completed"),
    ],
)
def test_finish_requested_in_on_started_runs_right_after_the_start(
    app, request_, item_state, task_state, workflow_state
):
    item = Builder.work_item("item").with_activities(
        on_started=lambda ctx: getattr(ctx.work_item, request_)()
    )
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()
    wi = api.internal_initialize_work_item(target(wid))

    api.internal_start_work_item(wi)

    assert api.get_work_item_state(wi) == item_state
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == task_state
    assert snap.state == workflow_state


def test_auto_complete_reports_completion_before_the_start_to_the_task(app):
    """Auto-triggers (§9): an immediate on_started auto-complete is seen by the task before
    the start."""
    log: list[str] = []
    item = Builder.work_item("item").with_activities(
        on_started=lambda ctx: ctx.work_item.complete()
    )
    task = Builder.task(item).with_activities(
        on_work_item_state_changed=changed_recorder(log, "A"),
        **recorder(log, "A", ("on_completed",)),
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    wi = api.internal_initialize_work_item(target(wid))

    api.internal_start_work_item(wi)

    assert log == [
        "A.changed[started->completed]",
        "A.on_completed",
        "A.changed[initialized->started]",
    ]


def test_a_second_auto_trigger_in_on_initialized_raises_and_rolls_back(app):
    def on_initialized(ctx: Any) -> None:
        ctx.work_item.start()
        ctx.work_item.start()

    item = Builder.work_item("item").with_activities(on_initialized=on_initialized)
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemAutoTriggerAlreadySetError):
        api.internal_initialize_work_item(target(wid))

    assert tree(api, wid) == before
    assert api.list_work_items(wid) == []


@pytest.mark.parametrize(("first", "second"), [("complete", "fail"), ("cancel", "cancel")])
def test_a_second_auto_trigger_in_on_started_raises_and_rolls_back(app, first, second):
    def on_started(ctx: Any) -> None:
        getattr(ctx.work_item, first)()
        getattr(ctx.work_item, second)()

    item = Builder.work_item("item").with_activities(on_started=on_started)
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()
    wi = api.internal_initialize_work_item(target(wid))
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemAutoTriggerAlreadySetError):
        api.internal_start_work_item(wi)

    assert tree(api, wid) == before
    assert api.get_work_item_state(wi) == "initialized"
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "enabled"


def test_auto_triggers_queued_in_on_enabled_run_first_in_first_out_after_it_returns(app):
    log: list[str] = []

    def on_initialized(ctx: Any) -> None:
        log.append(f"initialized:{ctx.work_item.id}")
        ctx.work_item.start()

    item = Builder.work_item("item").with_activities(
        on_initialized=on_initialized,
        on_started=lambda ctx: log.append(f"started:{ctx.work_item.id}"),
    )

    def on_enabled(ctx: Any) -> None:
        for _ in range(3):
            ctx.work_item.initialize()
        log.append("on_enabled returns")

    api = register(
        app, one_task_workflow(Builder.task(item).with_activities(on_enabled=on_enabled))
    )
    wid = api.internal_initialize_root_workflow()

    a, b, c = (w.id for w in api.list_work_items(wid))
    assert log == [
        f"initialized:{a}",
        f"initialized:{b}",
        f"initialized:{c}",
        "on_enabled returns",
        f"started:{a}",
        f"started:{b}",
        f"started:{c}",
    ]
    assert [w.state for w in api.list_work_items(wid)] == ["started"] * 3


def test_each_queued_auto_trigger_runs_its_whole_cascade_before_the_next(app):
    log: list[str] = []
    item = Builder.work_item("item").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(),
        on_started=lambda ctx: ctx.work_item.complete(),
        on_completed=lambda ctx: log.append(f"completed:{ctx.work_item.id}"),
    )

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()
        ctx.work_item.initialize()

    task = Builder.task(item).with_activities(
        on_enabled=on_enabled, on_work_item_state_changed=changed_recorder(log, "A")
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()

    a, b = (w.id for w in api.list_work_items(wid))
    assert log == [
        f"completed:{a}",
        "A.changed[started->completed]",
        "A.changed[initialized->started]",
        f"completed:{b}",
        "A.changed[started->completed]",
        "A.changed[initialized->started]",
    ]
    assert api.get_workflow_state(wid) == "completed"


def test_auto_triggers_run_as_internal_even_when_the_outer_call_is_public(app):
    """§17.6: a public start whose on_started auto-completes with the default complete action."""
    seen: list[tuple[str, bool]] = []
    actions = Builder.work_item_actions().start(None, lambda ctx, p: None)
    item = (
        Builder.work_item("item")
        .with_actions(actions)
        .with_activities(
            on_started=lambda ctx: (
                seen.append(("on_started", ctx.is_internal)),
                ctx.work_item.complete(),
            ),
            on_completed=lambda ctx: seen.append(("on_completed", ctx.is_internal)),
        )
    )
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()
    wi = api.internal_initialize_work_item(target(wid))

    api.start_work_item(wi)

    assert seen == [("on_started", False), ("on_completed", True)]
    assert api.get_work_item_state(wi) == "completed"
    assert api.get_workflow_state(wid) == "completed"


def test_auto_start_after_a_public_initialize_runs_as_internal(app):
    """§17.6: a public initialize (custom action) whose on_initialized auto-starts the item
    with the default start action."""
    actions = Builder.work_item_actions().initialize(None, lambda ctx, p: None)
    item = (
        Builder.work_item("item")
        .with_actions(actions)
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start())
    )
    api = register(app, plain_task_workflow(item))
    wid = api.internal_initialize_root_workflow()

    wi = api.initialize_work_item(target(wid))

    assert api.get_work_item_state(wi) == "started"
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"


def test_queued_auto_start_of_a_new_item_runs_as_internal_after_a_public_call(app):
    actions = Builder.work_item_actions().start(None, lambda ctx, p: None)
    actions = actions.complete(None, lambda ctx, p: None)
    seen: list[bool] = []

    def on_initialized(ctx: Any) -> None:
        if len(seen) == 0:
            seen.append(ctx.is_internal)
            return
        ctx.work_item.start()

    def on_changed(ctx: Any) -> None:
        if (
            ctx.work_item.next_state == "completed"
            and len(ctx.work_item.get_all_work_item_ids()) < 2
        ):
            seen.append(ctx.is_internal)
            ctx.work_item.initialize()

    item = (
        Builder.work_item("item")
        .with_actions(actions)
        .with_activities(on_initialized=on_initialized)
    )
    task = Builder.task(item).with_activities(
        on_enabled=lambda ctx: ctx.work_item.initialize(), on_work_item_state_changed=on_changed
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    (first,) = api.list_work_items(wid)
    api.start_work_item(first.id)

    api.complete_work_item(first.id)  # public; the new item's queued start uses the default

    assert seen == [True, False]
    assert [w.state for w in api.list_work_items(wid)] == ["completed", "started"]


# --- activity contexts -----------------------------------------------------------------------


def test_activity_contexts_describe_their_element(app):
    seen: dict[str, Any] = {}

    def on_enabled(ctx: Any) -> None:
        seen["task"] = (ctx.task.name, ctx.task.generation, tuple(ctx.task.path))
        seen["task.parent"] = (ctx.parent.workflow.id, ctx.parent.workflow.name)
        seen["task.mode"] = ctx.execution_mode
        seen["task.now"] = ctx.now()
        ctx.work_item.initialize()

    def item_on_initialized(ctx: Any) -> None:
        seen["item"] = (ctx.work_item.id, ctx.work_item.name)
        seen["item.parent"] = (
            ctx.parent.workflow.id,
            ctx.parent.workflow.name,
            ctx.parent.task.name,
            ctx.parent.task.generation,
            tuple(ctx.parent.task.path),
        )
        seen["item.mode"] = ctx.execution_mode
        seen["item.now"] = ctx.now()

    def wf_on_initialized(ctx: Any) -> None:
        seen["wf"] = (ctx.workflow.id, ctx.workflow.name, ctx.parent)
        seen["wf.mode"] = ctx.execution_mode
        seen["wf.now"] = ctx.now()

    item = Builder.work_item("item").with_activities(on_initialized=item_on_initialized)
    task = Builder.task(item).with_activities(on_enabled=on_enabled)
    wf = one_task_workflow(task).with_activities(on_initialized=wf_on_initialized)
    api = register(app, wf)
    app.clock.advance(90)

    wid = api.internal_initialize_root_workflow()

    (wi,) = api.list_work_items(wid)
    assert seen["task"] == ("A", 1, ("wf", "A"))
    assert seen["task.parent"] == (wid, "wf")
    assert seen["item"] == (wi.id, "item")
    assert seen["item.parent"] == (wid, "wf", "A", 1, ("wf", "A"))
    assert seen["wf"] == (wid, "wf", None)
    for where in ("task", "item", "wf"):
        assert seen[f"{where}.mode"] == "normal"
        now = seen[f"{where}.now"]
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)
        assert now == app.clock.now()


def test_state_changed_context_carries_the_work_item_transition(app):
    seen: list[tuple[str, str, str, int]] = []

    def on_changed(ctx: Any) -> None:
        seen.append(
            (
                ctx.work_item.id,
                ctx.work_item.prev_state,
                ctx.work_item.next_state,
                ctx.task.generation,
            )
        )

    task = Builder.task(Builder.work_item("item")).with_activities(
        on_enabled=lambda ctx: ctx.work_item.initialize(), on_work_item_state_changed=on_changed
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    (wi,) = api.list_work_items(wid)
    api.internal_start_work_item(wi.id)
    api.internal_complete_work_item(wi.id)

    assert seen == [(wi.id, "initialized", "started", 1), (wi.id, "started", "completed", 1)]
