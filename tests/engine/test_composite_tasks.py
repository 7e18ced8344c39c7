"""Composite and dynamic composite tasks: child workflows, their records, their reports to the
parent task, and what completing the parent does to unfinished children (docs/semantics.md,
sections 11 and 17.2)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import tasquencer as tq
from tasquencer import Builder

# --- helpers (local to this file) ------------------------------------------------------------


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def item_task(*, auto_start: bool = False) -> Any:
    """A task that creates one work item when enabled (started by the test unless auto)."""

    def on_initialized(ctx: Any) -> None:
        if auto_start:
            ctx.work_item.start()

    item = Builder.work_item("item").with_activities(on_initialized=on_initialized)
    return Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize())


def leaf_workflow(name: str, **kwargs: Any) -> Any:
    """start -> <name>_task -> end, one work item."""
    task = f"{name}_task"
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task(task, item_task(**kwargs))
        .connect_condition("start", lambda to: to.task(task))
        .connect_task(task, lambda to: to.condition("end"))
    )


def around(name: str, task: str, composite: Any, kind: str = "composite_task") -> Any:
    """start -> <task> -> end, where <task> is the given (dynamic) composite task."""
    return (
        getattr(Builder.workflow(name).start_condition("start").end_condition("end"), kind)(
            task, composite
        )
        .connect_condition("start", lambda to: to.task(task))
        .connect_task(task, lambda to: to.condition("end"))
    )


def creating(child: Any, count: int = 1, **activities: Any) -> Any:
    """A composite task of `child` that creates `count` children when enabled."""

    def on_enabled(ctx: Any) -> None:
        for _ in range(count):
            ctx.workflow.initialize()

    return Builder.composite_task(child).with_activities(on_enabled=on_enabled, **activities)


def only_item(api: Any, workflow_id: str) -> str:
    (item,) = api.list_work_items(workflow_id)
    return item.id  # type: ignore[no-any-return]


def tree(api: Any, workflow_id: str) -> dict[str, Any]:
    snapshots: dict[str, Any] = {}
    pending = [workflow_id]
    while pending:
        wid = pending.pop()
        snapshots[wid] = api.get_workflow_snapshot(wid)
        pending.extend(c.id for c in snapshots[wid].child_workflows)
    return snapshots


def children(api: Any, wid: str, task: str) -> list[tuple[str, str, str, int]]:
    return [(c.id, c.name, c.state, c.generation) for c in api.list_child_workflows(wid, task)]


# --- a composite task and its child ----------------------------------------------------------


def test_child_created_in_on_enabled_is_initialized_and_listed(app):
    returned: list[str] = []

    def on_enabled(ctx: Any) -> None:
        returned.append(ctx.workflow.initialize())

    composite = Builder.composite_task(leaf_workflow("child")).with_activities(
        on_enabled=on_enabled
    )
    api = register(app, around("parent", "P", composite))
    wid = api.internal_initialize_root_workflow()

    assert children(api, wid, "P") == [(returned[0], "child", "initialized", 1)]
    record = api.list_child_workflows(wid, "P")[0]
    assert record.task_name == "P"
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state, snap.tasks["P"].generation) == (
        "initialized",
        "enabled",
        1,
    )
    assert snap.child_workflows == api.list_child_workflows(wid, "P")
    child = api.get_workflow_snapshot(returned[0])
    assert child.name == "child"
    assert (child.state, child.tasks["child_task"].state) == ("initialized", "enabled")
    assert [w.state for w in child.work_items] == ["initialized"]


def test_the_child_starting_starts_the_composite_task_and_its_completion_completes_it(app):
    api = register(app, around("parent", "P", creating(leaf_workflow("child"))))
    wid = api.internal_initialize_root_workflow()
    ((child_id, *_),) = children(api, wid, "P")
    wi = only_item(api, child_id)

    api.internal_start_work_item(wi)

    assert api.get_workflow_state(child_id) == "started"
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("started", "started")

    api.internal_complete_work_item(wi)

    assert api.get_workflow_snapshot(child_id).state == "completed"
    assert children(api, wid, "P") == [(child_id, "child", "completed", 1)]
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("completed", "completed")
    assert snap.conditions == {"start": 0, "end": 1}


def test_composite_task_completes_only_when_every_child_is_finished(app):
    api = register(app, around("parent", "P", creating(leaf_workflow("child"), count=2)))
    wid = api.internal_initialize_root_workflow()
    first, second = (c[0] for c in children(api, wid, "P"))
    for child in (first, second):
        api.internal_start_work_item(only_item(api, child))

    api.internal_complete_work_item(only_item(api, first))
    assert api.get_workflow_snapshot(wid).tasks["P"].state == "started"

    api.internal_complete_work_item(only_item(api, second))
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("completed", "completed")
    assert [c[2] for c in children(api, wid, "P")] == ["completed", "completed"]


def test_three_levels_of_composites_start_and_complete_together(app):
    leaf = leaf_workflow("leaf")
    mid = around("mid", "P2", creating(leaf))
    api = register(app, around("root", "P1", creating(mid)))

    wid = api.internal_initialize_root_workflow()
    ((mid_id, mid_name, mid_state, mid_gen),) = children(api, wid, "P1")
    assert (mid_name, mid_state, mid_gen) == ("mid", "initialized", 1)
    ((leaf_id, leaf_name, leaf_state, leaf_gen),) = children(api, mid_id, "P2")
    assert (leaf_name, leaf_state, leaf_gen) == ("leaf", "initialized", 1)
    wi = only_item(api, leaf_id)

    api.internal_start_work_item(wi)
    assert [api.get_workflow_state(w) for w in (wid, mid_id, leaf_id)] == ["started"] * 3
    assert api.get_workflow_snapshot(wid).tasks["P1"].state == "started"
    assert api.get_workflow_snapshot(mid_id).tasks["P2"].state == "started"

    api.internal_complete_work_item(wi)
    assert [api.get_workflow_state(w) for w in (wid, mid_id, leaf_id)] == ["completed"] * 3
    assert api.get_workflow_snapshot(wid).tasks["P1"].state == "completed"
    assert api.get_workflow_snapshot(mid_id).tasks["P2"].state == "completed"
    assert api.get_workflow_snapshot(wid).conditions["end"] == 1


def test_internal_initialize_workflow_creates_a_child_from_a_target(app):
    api = register(app, around("parent", "P", Builder.composite_task(leaf_workflow("child"))))
    wid = api.internal_initialize_root_workflow()
    assert children(api, wid, "P") == []

    from_dict = api.internal_initialize_workflow(
        {"path": ["parent", "P", "child"], "parent_workflow_id": wid, "parent_task_name": "P"}
    )
    from_dataclass = api.internal_initialize_workflow(tq.Target(("parent", "P", "child"), wid, "P"))

    assert children(api, wid, "P") == [
        (from_dict, "child", "initialized", 1),
        (from_dataclass, "child", "initialized", 1),
    ]
    assert api.get_workflow_snapshot(wid).tasks["P"].state == "enabled"


def test_internal_initialize_workflow_targets_a_nested_composite(app):
    mid = around("mid", "P2", Builder.composite_task(leaf_workflow("leaf")))
    api = register(app, around("root", "P1", creating(mid)))
    wid = api.internal_initialize_root_workflow()
    ((mid_id, *_),) = children(api, wid, "P1")

    leaf_id = api.internal_initialize_workflow(
        {
            "path": ["root", "P1", "mid", "P2", "leaf"],
            "parent_workflow_id": mid_id,
            "parent_task_name": "P2",
        }
    )

    assert children(api, mid_id, "P2") == [(leaf_id, "leaf", "initialized", 1)]
    assert api.get_workflow_snapshot(leaf_id).tasks["leaf_task"].state == "enabled"


def test_initialize_workflow_with_a_bad_target_raises_and_changes_nothing(app):
    api = register(app, around("parent", "P", Builder.composite_task(leaf_workflow("child"))))
    wid = api.internal_initialize_root_workflow()
    before = tree(api, wid)

    with pytest.raises(tq.ElementNotFoundInPathError):
        api.internal_initialize_workflow(
            {"path": ["parent", "Q", "child"], "parent_workflow_id": wid, "parent_task_name": "P"}
        )
    with pytest.raises(tq.ElementNotFoundInPathError):
        api.internal_initialize_workflow(
            {"path": ["parent", "P", "other"], "parent_workflow_id": wid, "parent_task_name": "P"}
        )
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_initialize_workflow(
            {
                "path": ["parent", "P", "child"],
                "parent_workflow_id": "nope",
                "parent_task_name": "P",
            }
        )
    assert tree(api, wid) == before


def test_initialize_workflow_on_a_completed_composite_raises_and_changes_nothing(app):
    wf = (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", creating(leaf_workflow("child")))
        .task("B", item_task())
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    ((child_id, *_),) = children(api, wid, "P")
    wi = only_item(api, child_id)
    api.internal_start_work_item(wi)
    api.internal_complete_work_item(wi)
    assert api.get_workflow_snapshot(wid).tasks["P"].state == "completed"
    before = tree(api, wid)

    with pytest.raises(tq.InvalidStateTransitionError) as raised:
        api.internal_initialize_workflow(
            {"path": ["parent", "P", "child"], "parent_workflow_id": wid, "parent_task_name": "P"}
        )

    assert "completed" in str(raised.value)
    assert tree(api, wid) == before


# --- on_workflow_state_changed ---------------------------------------------------------------


def test_on_workflow_state_changed_reports_each_child_transition(app):
    seen: list[tuple[str, str, str]] = []

    def on_changed(ctx: Any) -> None:
        seen.append((ctx.workflow.id, ctx.workflow.prev_state, ctx.workflow.next_state))

    api = register(
        app,
        around(
            "parent", "P", creating(leaf_workflow("child"), on_workflow_state_changed=on_changed)
        ),
    )
    wid = api.internal_initialize_root_workflow()
    ((child_id, *_),) = children(api, wid, "P")
    assert seen == []  # initialization is not reported
    wi = only_item(api, child_id)
    api.internal_start_work_item(wi)
    api.internal_complete_work_item(wi)

    assert seen == [(child_id, "initialized", "started"), (child_id, "started", "completed")]


def test_composite_task_activities_see_the_task_and_the_child_definition(app):
    seen: dict[str, Any] = {}

    def on_enabled(ctx: Any) -> None:
        seen["task"] = (ctx.task.name, ctx.task.generation, tuple(ctx.task.path))
        seen["parent"] = (ctx.parent.workflow.id, ctx.parent.workflow.name)
        seen["child"] = (ctx.workflow.name, tuple(ctx.workflow.path))
        created = ctx.workflow.initialize()
        seen["ids"] = (created, ctx.workflow.get_all_workflow_ids())

    api = register(
        app,
        around(
            "parent",
            "P",
            Builder.composite_task(leaf_workflow("child")).with_activities(on_enabled=on_enabled),
        ),
    )
    wid = api.internal_initialize_root_workflow()

    ((child_id, *_),) = children(api, wid, "P")
    assert seen == {
        "task": ("P", 1, ("parent", "P")),
        "parent": (wid, "parent"),
        "child": ("child", ("parent", "P", "child")),
        "ids": (child_id, [child_id]),
    }


# --- dynamic composite tasks -----------------------------------------------------------------


class Payload(pydantic.BaseModel):
    label: str


def dynamic_children(received: list[tuple[str, str]]) -> tuple[Any, Any]:
    def init_recorder(name: str) -> Any:
        def initialize(ctx: Any, payload: Payload) -> None:
            received.append((name, payload.label))

        return Builder.workflow_actions().initialize(Payload, initialize)

    wf_a = leaf_workflow("wf_a").with_actions(init_recorder("wf_a"))
    wf_b = leaf_workflow("wf_b").with_actions(init_recorder("wf_b"))
    return wf_a, wf_b


def test_dynamic_composite_creates_children_by_name_with_index_and_attribute_access(app):
    received: list[tuple[str, str]] = []
    changed: list[tuple[str, str, str, str]] = []
    wf_a, wf_b = dynamic_children(received)

    def on_enabled(ctx: Any) -> None:
        ctx.workflow.initialize["wf_a"]({"label": "by key"})
        ctx.workflow.initialize.wf_b({"label": "by attribute"})

    def on_changed(ctx: Any) -> None:
        changed.append(
            (ctx.workflow.id, ctx.workflow.name, ctx.workflow.prev_state, ctx.workflow.next_state)
        )

    dynamic = Builder.dynamic_composite_task([wf_a, wf_b]).with_activities(
        on_enabled=on_enabled, on_workflow_state_changed=on_changed
    )
    api = register(app, around("parent", "D", dynamic, "dynamic_composite_task"))
    wid = api.internal_initialize_root_workflow()

    assert received == [("wf_a", "by key"), ("wf_b", "by attribute")]
    (a_id, a_name, a_state, a_gen), (b_id, b_name, b_state, b_gen) = children(api, wid, "D")
    assert (a_name, a_state, a_gen) == ("wf_a", "initialized", 1)
    assert (b_name, b_state, b_gen) == ("wf_b", "initialized", 1)

    wi_a = only_item(api, a_id)
    api.internal_start_work_item(wi_a)
    api.internal_complete_work_item(wi_a)
    assert api.get_workflow_snapshot(wid).tasks["D"].state == "started"

    wi_b = only_item(api, b_id)
    api.internal_start_work_item(wi_b)
    api.internal_complete_work_item(wi_b)

    assert changed == [
        (a_id, "wf_a", "initialized", "started"),
        (a_id, "wf_a", "started", "completed"),
        (b_id, "wf_b", "initialized", "started"),
        (b_id, "wf_b", "started", "completed"),
    ]
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["D"].state) == ("completed", "completed")
    assert [c[2] for c in children(api, wid, "D")] == ["completed", "completed"]


def test_dynamic_composite_child_from_a_target_selects_the_type_by_name(app):
    received: list[tuple[str, str]] = []
    wf_a, wf_b = dynamic_children(received)
    api = register(
        app,
        around(
            "parent", "D", Builder.dynamic_composite_task([wf_a, wf_b]), "dynamic_composite_task"
        ),
    )
    wid = api.internal_initialize_root_workflow()

    b_id = api.internal_initialize_workflow(
        {"path": ["parent", "D", "wf_b"], "parent_workflow_id": wid, "parent_task_name": "D"},
        {"label": "from target"},
    )

    assert received == [("wf_b", "from target")]
    assert children(api, wid, "D") == [(b_id, "wf_b", "initialized", 1)]
    assert api.get_workflow_snapshot(b_id).tasks["wf_b_task"].state == "enabled"


def test_dynamic_composite_unknown_child_name_raises_and_creates_nothing(app):
    wf_a, wf_b = dynamic_children([])

    def on_enabled(ctx: Any) -> None:
        ctx.workflow.initialize["wf_c"]({"label": "x"})

    dynamic = Builder.dynamic_composite_task([wf_a, wf_b]).with_activities(on_enabled=on_enabled)
    api = register(app, around("parent", "D", dynamic, "dynamic_composite_task"))

    with pytest.raises(KeyError, match="wf_c") as unknown:
        api.internal_initialize_root_workflow()
    assert isinstance(unknown.value, tq.StructuralIntegrityError)
    assert "this task can start: 'wf_a', 'wf_b'" in str(unknown.value)
    assert api.list_workflows() == []


# --- policies of composite tasks -------------------------------------------------------------


def test_completing_a_composite_task_tears_down_its_unfinished_children(app):
    """§17.2: a custom policy completes after the first child; the second one is canceled."""
    policy_calls: list[tuple[str, str]] = []
    child_activity: list[str] = []
    on_completed: list[str] = []

    def first_done(ctx: Any) -> str:
        policy_calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        return "complete" if ctx.task.get_stats().completed >= 1 else "continue"

    def on_changed(ctx: Any) -> None:
        child_activity.append(f"{ctx.workflow.prev_state}->{ctx.workflow.next_state}")

    composite = (
        creating(leaf_workflow("child"), count=2, on_workflow_state_changed=on_changed)
        .with_policy(first_done)
        .with_activities(on_completed=lambda ctx: on_completed.append(ctx.task.name))
    )
    api = register(app, around("parent", "P", composite))
    wid = api.internal_initialize_root_workflow()
    first, second = (c[0] for c in children(api, wid, "P"))
    for child in (first, second):
        api.internal_start_work_item(only_item(api, child))
    policy_calls.clear()
    child_activity.clear()

    api.internal_complete_work_item(only_item(api, first))

    assert children(api, wid, "P") == [
        (first, "child", "completed", 1),
        (second, "child", "canceled", 1),
    ]
    second_snap = api.get_workflow_snapshot(second)
    assert second_snap.tasks["child_task"].state == "canceled"
    assert [w.state for w in second_snap.work_items] == ["canceled"]
    assert policy_calls == [("started", "completed")]  # the teardown did not ask the policy
    assert child_activity == ["started->completed", "started->canceled"]
    assert on_completed == ["P"]
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("completed", "completed")
    assert snap.conditions == {"start": 0, "end": 1}


def test_a_composite_policy_completing_right_after_it_starts_tears_its_children_down(app):
    """§6 + §17.2: the naive policy completes P as soon as its first child starts; P's
    children are torn down and stay down, and P completes once."""
    completed: list[str] = []
    composite = creating(
        leaf_workflow("child"),
        count=2,
        on_completed=lambda ctx: completed.append(ctx.task.name),
    ).with_policy(
        lambda ctx: "complete" if ctx.transition.next_state == "completed" else "continue"
    )
    api = register(app, around("parent", "P", composite))
    wid = api.internal_initialize_root_workflow()
    first, second = (c[0] for c in children(api, wid, "P"))
    wi = only_item(api, first)

    api.internal_start_work_item(wi)

    assert completed == ["P"]
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("completed", "completed")
    assert snap.conditions == {"start": 0, "end": 1}
    assert [c[2] for c in children(api, wid, "P")] == ["canceled", "canceled"]
    for child in (first, second):
        child_snap = api.get_workflow_snapshot(child)
        assert child_snap.state == "canceled"
        assert child_snap.tasks["child_task"].state == "disabled"
        assert [w.state for w in child_snap.work_items] == ["canceled"]


def test_completing_a_dynamic_composite_task_tears_down_its_unfinished_children(app):
    wf_a, wf_b = dynamic_children([])

    def on_enabled(ctx: Any) -> None:
        ctx.workflow.initialize.wf_a({"label": "a"})
        ctx.workflow.initialize.wf_b({"label": "b"})

    dynamic = (
        Builder.dynamic_composite_task([wf_a, wf_b])
        .with_activities(on_enabled=on_enabled)
        .with_policy(lambda ctx: "complete" if ctx.task.get_stats().completed else "continue")
    )
    api = register(app, around("parent", "D", dynamic, "dynamic_composite_task"))
    wid = api.internal_initialize_root_workflow()
    a_id, b_id = (c[0] for c in children(api, wid, "D"))
    api.internal_start_work_item(only_item(api, b_id))
    wi_a = only_item(api, a_id)
    api.internal_start_work_item(wi_a)

    api.internal_complete_work_item(wi_a)

    assert [c[2] for c in children(api, wid, "D")] == ["completed", "canceled"]
    assert [w.state for w in api.list_work_items(b_id)] == ["canceled"]
    assert api.get_workflow_state(wid) == "completed"


def test_composite_policy_sees_the_generation_stats(app):
    stats: list[tuple[tuple[str, str], Any]] = []

    def policy(ctx: Any) -> str:
        s = ctx.task.get_stats()
        stats.append(((ctx.transition.prev_state, ctx.transition.next_state), s))
        if ctx.transition.next_state == "failed":
            return "fail"
        finished = s.completed + s.failed + s.canceled
        return "complete" if s.total > 0 and finished == s.total else "continue"

    composite = creating(leaf_workflow("child"), count=2).with_policy(policy)
    api = register(app, around("parent", "P", composite))
    wid = api.internal_initialize_root_workflow()
    first, second = (c[0] for c in children(api, wid, "P"))

    api.internal_start_work_item(only_item(api, first))
    api.internal_complete_work_item(only_item(api, first))
    api.internal_cancel_workflow(second)

    assert stats == [
        (("started", "completed"), tq.TaskStats(2, 2, 0, 0, 0, 0)),
        (("started", "completed"), tq.TaskStats(2, 1, 0, 1, 0, 0)),
        (("initialized", "canceled"), tq.TaskStats(2, 0, 0, 1, 0, 1)),
    ]
    stats_record = stats[-1][1]
    assert (stats_record.total, stats_record.completed, stats_record.canceled) == (2, 1, 1)
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["P"].state) == ("completed", "completed")


def test_canceling_the_last_open_child_completes_the_composite_task(app):
    api = register(app, around("parent", "P", creating(leaf_workflow("child"), count=2)))
    wid = api.internal_initialize_root_workflow()
    first, second = (c[0] for c in children(api, wid, "P"))
    api.internal_start_work_item(only_item(api, first))
    api.internal_complete_work_item(only_item(api, first))

    api.internal_cancel_workflow(second)

    snap = api.get_workflow_snapshot(second)
    assert snap.state == "canceled"
    assert snap.tasks["child_task"].state == "disabled"
    assert [c[2] for c in children(api, wid, "P")] == ["completed", "canceled"]
    parent = api.get_workflow_snapshot(wid)
    assert (parent.state, parent.tasks["P"].state) == ("completed", "completed")
