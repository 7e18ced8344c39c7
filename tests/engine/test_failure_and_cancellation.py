"""Failure propagates upward with lateral cleanup, cancellation flows downward, policies are
asked exactly when they should be, and a task finishes at most once per generation
(docs/semantics.md, sections 6, 10, 17.1, 17.4, 17.12 and 17.14)."""

from __future__ import annotations

from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import one_task_workflow

# --- helpers (local to this file) ------------------------------------------------------------


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def task_with_items(n: int, item: Any = None, **activities: Any) -> Any:
    def on_enabled(ctx: Any) -> None:
        for _ in range(n):
            ctx.work_item.initialize()

    return Builder.task(item or Builder.work_item("item")).with_activities(
        on_enabled=on_enabled, **activities
    )


def tree(api: Any, workflow_id: str) -> dict[str, Any]:
    snapshots: dict[str, Any] = {}
    pending = [workflow_id]
    while pending:
        wid = pending.pop()
        snapshots[wid] = api.get_workflow_snapshot(wid)
        pending.extend(c.id for c in snapshots[wid].child_workflows)
    return snapshots


def recording_policy(calls: list[Any], label: str = "") -> Any:
    """Records each call and decides as the default policy does."""

    def policy(ctx: Any) -> str:
        s = ctx.task.get_stats()
        calls.append((label or ctx.task.name, ctx.transition.prev_state, ctx.transition.next_state))
        if ctx.transition.next_state == "failed":
            return "fail"
        if ctx.transition.next_state not in ("completed", "canceled"):
            return "continue"
        return "complete" if s.completed + s.failed + s.canceled == s.total else "continue"

    return policy


def only_item(api: Any, workflow_id: str) -> str:
    (item,) = api.list_work_items(workflow_id)
    return item.id  # type: ignore[no-any-return]


def recorded_composite(log: list[str], policies: list[Any] | None = None) -> Any:
    """root: start -> P -> end; P is a composite of child: start -> c -> end; every activity on
    the failure/cancel path is recorded."""

    def on_changed_item(ctx: Any) -> None:
        log.append(f"c.changed[{ctx.work_item.prev_state}->{ctx.work_item.next_state}]")

    def on_changed_wf(ctx: Any) -> None:
        log.append(f"P.changed[{ctx.workflow.prev_state}->{ctx.workflow.next_state}]")

    item = Builder.work_item("item").with_activities(
        on_failed=lambda ctx: log.append("item.on_failed"),
        on_canceled=lambda ctx: log.append("item.on_canceled"),
    )
    c_task = task_with_items(
        1,
        item,
        on_work_item_state_changed=on_changed_item,
        on_failed=lambda ctx: log.append("c.on_failed"),
        on_canceled=lambda ctx: log.append("c.on_canceled"),
    )
    if policies is not None:
        c_task = c_task.with_policy(recording_policy(policies, "c"))
    child = (
        Builder.workflow("child")
        .start_condition("start")
        .end_condition("end")
        .task("c", c_task)
        .connect_condition("start", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("end"))
        .with_activities(
            on_failed=lambda ctx: log.append("child.on_failed"),
            on_canceled=lambda ctx: log.append("child.on_canceled"),
        )
    )
    composite = Builder.composite_task(child).with_activities(
        on_enabled=lambda ctx: ctx.workflow.initialize(),
        on_workflow_state_changed=on_changed_wf,
        on_failed=lambda ctx: log.append("P.on_failed"),
        on_canceled=lambda ctx: log.append("P.on_canceled"),
    )
    if policies is not None:
        composite = composite.with_policy(recording_policy(policies, "P"))
    return (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", composite)
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
        .with_activities(
            on_failed=lambda ctx: log.append("root.on_failed"),
            on_canceled=lambda ctx: log.append("root.on_canceled"),
        )
    )


def started_composite(app: Any, log: list[str], policies: list[Any] | None = None) -> Any:
    api = register(app, recorded_composite(log, policies))
    wid = api.internal_initialize_root_workflow()
    (child,) = (c.id for c in api.list_child_workflows(wid, "P"))
    wi = only_item(api, child)
    api.internal_start_work_item(wi)
    log.clear()
    if policies is not None:
        policies.clear()
    return api, wid, child, wi


# --- failure propagates upward ---------------------------------------------------------------


def test_a_child_work_item_failure_propagates_to_the_root_in_order(app):
    """Failure propagation (§10): the activity order for a work-item failure in a child workflow."""
    log: list[str] = []
    api, wid, child, wi = started_composite(app, log)

    api.internal_fail_work_item(wi)

    assert log == [
        "item.on_failed",
        "c.changed[started->failed]",
        "c.on_failed",
        "child.on_failed",
        "P.changed[started->failed]",
        "P.on_failed",
        "root.on_failed",
    ]
    assert api.get_work_item_state(wi) == "failed"
    child_snap = api.get_workflow_snapshot(child)
    assert (child_snap.state, child_snap.tasks["c"].state) == ("failed", "failed")
    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("failed", "failed")
    assert [c.state for c in api.list_child_workflows(wid, "P")] == ["failed"]


def test_a_failure_cancels_started_siblings_and_disables_enabled_ones(app):
    """root: start -> D (dummy) -> {P, S1, S2} -> J -> end; P's child fails."""
    log: list[str] = []

    def sibling(name: str) -> Any:
        item = Builder.work_item(f"{name}_item").with_activities(
            on_canceled=lambda ctx: log.append(f"{name}_item.on_canceled")
        )
        return task_with_items(1, item).with_activities(
            on_canceled=lambda ctx: log.append(f"{name}.on_canceled"),
            on_disabled=lambda ctx: log.append(f"{name}.on_disabled"),
        )

    child = one_task_workflow(task_with_items(1), name="child")
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .dummy_task("D")
        .composite_task(
            "P",
            Builder.composite_task(child).with_activities(
                on_enabled=lambda ctx: ctx.workflow.initialize()
            ),
        )
        .task("S1", sibling("S1"))
        .task("S2", sibling("S2"))
        .task("J", task_with_items(1))
        .connect_condition("start", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("P").task("S1").task("S2"))
        .connect_task("P", lambda to: to.task("J"))
        .connect_task("S1", lambda to: to.task("J"))
        .connect_task("S2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    (child_id,) = (c.id for c in api.list_child_workflows(wid, "P"))
    child_item = only_item(api, child_id)
    (s2_item,) = (w.id for w in api.list_work_items(wid, task_name="S2"))
    api.internal_start_work_item(child_item)
    api.internal_start_work_item(s2_item)
    log.clear()

    api.internal_fail_work_item(child_item)

    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "failed"
    assert {name: t.state for name, t in snap.tasks.items()} == {
        "D": "completed",
        "P": "failed",
        "S1": "disabled",
        "S2": "canceled",
        "J": "disabled",
    }
    assert [(w.task_name, w.state) for w in snap.work_items] == [
        ("S1", "canceled"),
        ("S2", "canceled"),
    ]
    assert sorted(log) == sorted(
        ["S1_item.on_canceled", "S1.on_disabled", "S2_item.on_canceled", "S2.on_canceled"]
    )
    assert log.index("S1_item.on_canceled") < log.index("S1.on_disabled")
    assert log.index("S2_item.on_canceled") < log.index("S2.on_canceled")
    assert api.get_workflow_state(child_id) == "failed"


def test_a_continue_policy_keeps_the_task_running_after_a_failure(app):
    def tolerant(ctx: Any) -> str:
        s = ctx.task.get_stats()
        if ctx.transition.next_state == "failed":
            return "continue"
        finished = s.completed + s.failed + s.canceled
        return "complete" if finished == s.total else "continue"

    api = register(app, one_task_workflow(task_with_items(2).with_policy(tolerant)))
    wid = api.internal_initialize_root_workflow()
    first, second = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(first)
    api.internal_start_work_item(second)

    api.internal_fail_work_item(first)

    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("started", "started")
    assert [w.state for w in snap.work_items] == ["failed", "started"]

    api.internal_complete_work_item(second)

    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("completed", "completed")
    assert [w.state for w in snap.work_items] == ["failed", "completed"]
    assert snap.conditions["end"] == 1


def test_a_custom_policy_can_defer_to_the_default_one(app):
    """`tq.default_task_policy` is the default, callable from a custom policy."""

    def forgiving(ctx: Any) -> str:
        if ctx.transition.next_state == "failed":
            return "continue"
        return tq.default_task_policy(ctx)

    api = register(app, one_task_workflow(task_with_items(2).with_policy(forgiving)))
    wid = api.internal_initialize_root_workflow()
    first, second = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(first)
    api.internal_start_work_item(second)

    api.internal_fail_work_item(first)
    assert api.get_workflow_task_states(wid) == {"A": "started"}

    api.internal_complete_work_item(second)
    assert api.get_workflow_state(wid) == "completed"


def test_a_policy_failing_right_after_the_task_starts_fails_the_workflow_too(app):
    """§17.4: 'fail' for the evaluation right after the start fails the workflow as well."""
    calls: list[tuple[str, str]] = []

    def fail_at_once(ctx: Any) -> str:
        calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        return "fail"

    api = register(app, one_task_workflow(task_with_items(1).with_policy(fail_at_once)))
    wid = api.internal_initialize_root_workflow()
    wi = only_item(api, wid)

    api.internal_start_work_item(wi)

    assert calls == [("started", "completed")]
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "failed"
    assert snap.state == "failed"
    assert api.get_work_item_state(wi) == "canceled"
    assert snap.conditions == {"start": 0, "end": 0}


def test_a_composite_policy_failing_right_after_it_starts_fails_the_parent_workflow(app):
    child = one_task_workflow(task_with_items(1), name="child")
    composite = (
        Builder.composite_task(child)
        .with_activities(on_enabled=lambda ctx: ctx.workflow.initialize())
        .with_policy(lambda ctx: "fail")
    )
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", composite)
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    (child_id,) = (c.id for c in api.list_child_workflows(wid, "P"))

    api.internal_start_work_item(only_item(api, child_id))

    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("failed", "failed")
    # P's failure tore the (still initialized) child down; its start must not resume it.
    child_snap = api.get_workflow_snapshot(child_id)
    assert child_snap.state == "canceled"
    assert child_snap.tasks["A"].state == "disabled"
    assert [w.state for w in child_snap.work_items] == ["canceled"]
    assert [c.state for c in api.list_child_workflows(wid, "P")] == ["canceled"]


def test_a_policy_failing_right_after_a_child_task_starts_fails_every_ancestor(app):
    """§17.4 one level down: the child's task fails at its start, so the child workflow, the
    composite task and the root fail."""
    c_task = task_with_items(1).with_policy(lambda ctx: "fail")
    child = one_task_workflow(c_task, name="child")
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task(
            "P",
            Builder.composite_task(child).with_activities(
                on_enabled=lambda ctx: ctx.workflow.initialize()
            ),
        )
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    (child_id,) = (c.id for c in api.list_child_workflows(wid, "P"))
    wi = only_item(api, child_id)

    api.internal_start_work_item(wi)

    child_snap = api.get_workflow_snapshot(child_id)
    assert (child_snap.state, child_snap.tasks["A"].state) == ("failed", "failed")
    assert api.get_work_item_state(wi) == "canceled"
    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("failed", "failed")


def test_a_policy_completing_right_after_the_task_starts_completes_it_once(app):
    """Policies (§6): a naive policy completes on the evaluation right after the start; the item
    being started is torn down, and the task completes once."""
    completed: list[str] = []
    calls: list[tuple[str, str]] = []

    def naive(ctx: Any) -> str:
        calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        return "complete" if ctx.transition.next_state == "completed" else "continue"

    task = (
        task_with_items(1)
        .with_policy(naive)
        .with_activities(on_completed=lambda ctx: completed.append(ctx.task.name))
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    wi = only_item(api, wid)

    api.internal_start_work_item(wi)

    assert calls == [("started", "completed")]
    assert completed == ["A"]
    assert api.get_work_item_state(wi) == "canceled"
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("completed", "completed")
    assert snap.conditions == {"start": 0, "end": 1}


# --- cancellation flows downward -------------------------------------------------------------


def test_canceling_the_root_tears_everything_down_in_order_without_policies(app):
    """Cancellation (§10): the activity order for a root cancellation; teardown never asks
    a policy."""
    log: list[str] = []
    policies: list[Any] = []
    api, wid, child, wi = started_composite(app, log, policies)

    api.internal_cancel_root_workflow(wid)

    assert log == [
        "item.on_canceled",
        "c.changed[started->canceled]",
        "c.on_canceled",
        "child.on_canceled",
        "P.changed[started->canceled]",
        "P.on_canceled",
        "root.on_canceled",
    ]
    assert policies == []
    assert api.get_work_item_state(wi) == "canceled"
    child_snap = api.get_workflow_snapshot(child)
    assert (child_snap.state, child_snap.tasks["c"].state) == ("canceled", "canceled")
    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("canceled", "canceled")


def test_the_root_is_already_canceled_while_its_children_are_torn_down(app):
    """Cancellation (§10): the default cancel action marks the root canceled before the teardown."""
    seen: list[tuple[str, str]] = []
    api_ref: list[Any] = []
    roots: list[str] = []

    def on_canceled(ctx: Any) -> None:
        api = api_ref[0]
        seen.append(
            (
                api.get_workflow_state(roots[0], ctx=ctx),
                api.get_workflow_state(ctx.workflow.id, ctx=ctx),
            )
        )

    child = one_task_workflow(task_with_items(1), name="child").with_activities(
        on_canceled=on_canceled
    )
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task(
            "P",
            Builder.composite_task(child).with_activities(
                on_enabled=lambda ctx: ctx.workflow.initialize()
            ),
        )
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    api_ref.append(api)
    wid = api.internal_initialize_root_workflow()
    roots.append(wid)
    (child_id,) = (c.id for c in api.list_child_workflows(wid, "P"))
    api.internal_start_work_item(only_item(api, child_id))

    api.internal_cancel_root_workflow(wid)

    assert seen == [("canceled", "canceled")]


def test_a_failing_child_workflow_tears_down_its_sibling_children(app):
    policies: list[Any] = []
    child = one_task_workflow(task_with_items(1), name="child")
    composite = (
        Builder.composite_task(child)
        .with_activities(
            on_enabled=lambda ctx: (ctx.workflow.initialize(), ctx.workflow.initialize())
        )
        .with_policy(recording_policy(policies))
    )
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", composite)
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    first, second = (c.id for c in api.list_child_workflows(wid, "P"))
    for child_id in (first, second):
        api.internal_start_work_item(only_item(api, child_id))
    policies.clear()

    api.internal_fail_work_item(only_item(api, first))

    assert policies == [("P", "started", "failed")]
    assert [c.state for c in api.list_child_workflows(wid, "P")] == ["failed", "canceled"]
    second_snap = api.get_workflow_snapshot(second)
    assert second_snap.tasks["A"].state == "canceled"
    assert [w.state for w in second_snap.work_items] == ["canceled"]
    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("failed", "failed")


def test_canceling_a_child_workflow_asks_the_composite_policy_once(app):
    log: list[str] = []
    policies: list[Any] = []
    api, wid, child, wi = started_composite(app, log, policies)

    api.internal_cancel_workflow(child)

    assert policies == [("P", "started", "canceled")]  # the child's own task: teardown only
    assert api.get_work_item_state(wi) == "canceled"
    root = api.get_workflow_snapshot(wid)
    assert (root.state, root.tasks["P"].state) == ("completed", "completed")


def test_cancel_root_workflow_rejects_a_child_workflow_id(app):
    """§17.12: a non-root id raises StructuralIntegrityError and changes nothing."""
    log: list[str] = []
    api, wid, child, _ = started_composite(app, log)
    before = tree(api, wid)

    with pytest.raises(tq.StructuralIntegrityError) as raised:
        api.internal_cancel_root_workflow(child)

    assert child in str(raised.value)
    assert tree(api, wid) == before
    assert log == []


def test_canceling_an_unknown_workflow_raises_workflow_not_found(app):
    log: list[str] = []
    api, wid, _, _ = started_composite(app, log)
    before = tree(api, wid)

    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_cancel_root_workflow("no-such-workflow")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_cancel_workflow("no-such-workflow")

    assert tree(api, wid) == before


@pytest.mark.parametrize("state", ["completed", "failed", "canceled"])
def test_canceling_a_finished_workflow_raises_workflow_invalid_state(app, state):
    api = register(app, one_task_workflow(task_with_items(1)))
    wid = api.internal_initialize_root_workflow()
    wi = only_item(api, wid)
    if state == "canceled":
        api.internal_cancel_root_workflow(wid)
    else:
        api.internal_start_work_item(wi)
        finish = {"completed": "complete", "failed": "fail"}[state]
        getattr(api, f"internal_{finish}_work_item")(wi)
    assert api.get_workflow_state(wid) == state
    before = tree(api, wid)

    with pytest.raises(tq.WorkflowInvalidStateError) as raised:
        api.internal_cancel_root_workflow(wid)

    assert state in str(raised.value)
    assert tree(api, wid) == before


def test_canceling_an_initialized_workflow_disables_its_enabled_tasks(app):
    disabled: list[str] = []
    api = register(
        app,
        one_task_workflow(
            task_with_items(1).with_activities(on_disabled=lambda ctx: disabled.append("A"))
        ),
    )
    wid = api.internal_initialize_root_workflow()
    wi = only_item(api, wid)

    api.internal_cancel_root_workflow(wid)

    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "canceled"
    assert (snap.tasks["A"].state, snap.tasks["A"].generation) == ("disabled", 1)
    assert api.get_work_item_state(wi) == "canceled"
    assert disabled == ["A"]
    assert snap.conditions == {"start": 1, "end": 0}


def test_explicit_cancel_of_a_work_item_asks_the_policy_exactly_once(app):
    calls: list[Any] = []
    api = register(app, one_task_workflow(task_with_items(2).with_policy(recording_policy(calls))))
    wid = api.internal_initialize_root_workflow()
    first, second = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(first)
    calls.clear()

    api.internal_cancel_work_item(second)

    assert calls == [("A", "initialized", "canceled")]
    calls.clear()
    api.internal_cancel_work_item(first)
    assert calls == [("A", "started", "canceled")]
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "completed"


def test_completing_a_task_tears_down_its_open_work_items_without_asking_the_policy(app):
    calls: list[Any] = []

    def first_done(ctx: Any) -> str:
        calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        return "complete" if ctx.task.get_stats().completed >= 1 else "continue"

    canceled: list[str] = []
    item = Builder.work_item("item").with_activities(
        on_canceled=lambda ctx: canceled.append(ctx.work_item.id)
    )
    api = register(app, one_task_workflow(task_with_items(3, item).with_policy(first_done)))
    wid = api.internal_initialize_root_workflow()
    a, b, c = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(a)
    api.internal_start_work_item(c)
    calls.clear()

    api.internal_complete_work_item(a)

    assert calls == [("started", "completed")]
    assert canceled == [b, c]
    assert [w.state for w in api.list_work_items(wid)] == ["completed", "canceled", "canceled"]
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("completed", "completed")


# --- a task finishes once per generation -----------------------------------------------------


def test_a_task_completes_at_most_once_per_generation(app):
    """§17.1: auto-starting, auto-completing items; the task's on_work_item_state_changed
    creates a second item; both completions ask the policy but the task completes once."""
    completed: list[int] = []
    wf_completed: list[str] = []
    item = Builder.work_item("item").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(),
        on_started=lambda ctx: ctx.work_item.complete(),
    )

    def on_changed(ctx: Any) -> None:
        if (
            ctx.work_item.next_state == "completed"
            and len(ctx.work_item.get_all_work_item_ids()) < 2
        ):
            ctx.work_item.initialize()

    task = task_with_items(1, item, on_work_item_state_changed=on_changed).with_activities(
        on_completed=lambda ctx: completed.append(ctx.task.generation)
    )
    wf = one_task_workflow(task).with_activities(
        on_completed=lambda ctx: wf_completed.append(ctx.workflow.id)
    )
    api = register(app, wf)

    wid = api.internal_initialize_root_workflow()

    assert completed == [1]
    assert wf_completed == [wid]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "completed"
    assert (snap.tasks["A"].state, snap.tasks["A"].generation) == ("completed", 1)
    assert snap.conditions == {"start": 0, "end": 1}
    assert [w.state for w in snap.work_items] == ["completed", "completed"]


def test_a_composite_task_completes_at_most_once_per_generation(app):
    """§17.1 + §17.2 for composites: a policy completing after the first of two children."""
    completed: list[int] = []
    child = one_task_workflow(task_with_items(1), name="child")
    composite = (
        Builder.composite_task(child)
        .with_activities(
            on_enabled=lambda ctx: (ctx.workflow.initialize(), ctx.workflow.initialize()),
            on_completed=lambda ctx: completed.append(ctx.task.generation),
        )
        .with_policy(lambda ctx: "complete" if ctx.task.get_stats().completed >= 1 else "continue")
    )
    wf = (
        Builder.workflow("root")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", composite)
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    first, second = (c.id for c in api.list_child_workflows(wid, "P"))
    for child_id in (first, second):
        api.internal_start_work_item(only_item(api, child_id))

    api.internal_complete_work_item(only_item(api, first))

    assert [c.state for c in api.list_child_workflows(wid, "P")] == ["completed", "canceled"]
    # the torn-down child's work item cannot finish it a second time
    second_item = only_item(api, second)
    assert api.get_work_item_state(second_item) == "canceled"
    with pytest.raises(tq.WorkItemInvalidStateError):
        api.internal_complete_work_item(second_item)
    assert completed == [1]
    assert api.get_workflow_snapshot(wid).conditions == {"start": 0, "end": 1}


def test_a_work_item_created_in_its_initialize_action_counts_for_the_policy_at_once(app):
    """Stats always equal the rows (§11.3): an item created by an initialize action is
    counted as soon as it exists, so a nested call that finishes the task's other item in
    that same action sees it, and the default policy keeps the task running for it."""
    api_ref: list[Any] = []
    others: list[str] = []

    def initialize(ctx: Any, payload: Any) -> None:
        ctx.work_item.initialize()
        if others:
            api_ref[0].internal_complete_work_item(others[0], ctx=ctx)

    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().initialize(Any, initialize)
    )
    api = register(app, one_task_workflow(Builder.task(item)))
    api_ref.append(api)
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
    first = api.internal_initialize_work_item(target)
    api.internal_start_work_item(first)
    others.append(first)

    second = api.internal_initialize_work_item(target)

    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("started", "started")
    assert [(w.id, w.state) for w in snap.work_items] == [
        (first, "completed"),
        (second, "initialized"),
    ]
    api.internal_start_work_item(second)
    api.internal_complete_work_item(second)
    assert api.get_workflow_state(wid) == "completed"


# --- stats per generation --------------------------------------------------------------------


def looping_workflow(task: Any, rounds: int) -> Any:
    """start -> A (xor join, xor split) -> back -> A ... -> end after `rounds` generations."""

    def router(ctx: Any) -> Any:
        if ctx.task.generation < rounds:
            return ctx.route.to_condition("back")
        return ctx.route.to_condition("end")

    return (
        Builder.workflow("loop")
        .start_condition("start")
        .condition("back")
        .end_condition("end")
        .task("A", task.with_join_type("xor").with_split_type("xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_condition("back", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("back").condition("end").route(router))
    )


def test_stats_and_work_item_ids_are_per_generation(app):
    stats: list[tuple[int, Any]] = []
    ids_seen: list[tuple[int, list[str]]] = []

    def on_enabled(ctx: Any) -> None:
        for _ in range(2 if ctx.task.generation == 1 else 1):
            ctx.work_item.initialize()
        ids_seen.append((ctx.task.generation, ctx.work_item.get_all_work_item_ids()))

    def stats_policy(ctx: Any) -> str:
        s = ctx.task.get_stats()
        stats.append((ctx.task.generation, s))
        if ctx.transition.next_state in ("completed", "canceled") and (
            s.completed + s.failed + s.canceled == s.total
        ):
            return "complete"
        return "continue"

    task = (
        Builder.task(Builder.work_item("item"))
        .with_activities(on_enabled=on_enabled)
        .with_policy(stats_policy)
    )
    api = register(app, looping_workflow(task, rounds=2))
    wid = api.internal_initialize_root_workflow()
    gen1 = [w.id for w in api.list_work_items(wid)]
    for wi in gen1:
        api.internal_start_work_item(wi)
    api.internal_complete_work_item(gen1[0])
    api.internal_complete_work_item(gen1[1])

    snap = api.get_workflow_snapshot(wid)
    assert (snap.tasks["A"].state, snap.tasks["A"].generation) == ("enabled", 2)
    gen2 = [w.id for w in api.list_work_items(wid, state="initialized")]
    assert len(gen2) == 1
    api.internal_start_work_item(gen2[0])
    api.internal_complete_work_item(gen2[0])

    assert ids_seen == [(1, gen1), (2, gen2)]
    assert [(w.id, w.generation) for w in api.list_work_items(wid)] == [
        (gen1[0], 1),
        (gen1[1], 1),
        (gen2[0], 2),
    ]
    assert stats == [
        (1, tq.TaskStats(2, 2, 0, 0, 0, 0)),  # right after gen 1 started
        (1, tq.TaskStats(2, 0, 1, 1, 0, 0)),
        (1, tq.TaskStats(2, 0, 0, 2, 0, 0)),
        (2, tq.TaskStats(1, 1, 0, 0, 0, 0)),  # right after gen 2 started: gen 1 not counted
        (2, tq.TaskStats(1, 0, 0, 1, 0, 0)),
    ]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "completed"
    assert (snap.tasks["A"].state, snap.tasks["A"].generation) == ("completed", 2)
    assert snap.conditions == {"start": 0, "back": 0, "end": 1}


def test_stats_summed_over_four_shards_count_twelve_work_items(app):
    stats: list[Any] = []

    def policy(ctx: Any) -> str:
        s = ctx.task.get_stats()
        stats.append(s)
        if ctx.transition.next_state in ("completed", "canceled") and (
            s.completed + s.failed + s.canceled == s.total
        ):
            return "complete"
        return "continue"

    task = task_with_items(12).with_stats_shards(4).with_policy(policy)
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    ids = [w.id for w in api.list_work_items(wid)]
    assert len(ids) == 12
    for wi in ids[:8]:
        api.internal_start_work_item(wi)
    for wi in ids[:5]:
        api.internal_complete_work_item(wi)
    for wi in ids[8:10]:
        api.internal_cancel_work_item(wi)

    assert stats[0] == tq.TaskStats(12, 12, 0, 0, 0, 0)  # right after the first start
    assert stats[-1] == tq.TaskStats(12, 2, 3, 5, 0, 2)
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"

    for wi in ids[5:8]:
        api.internal_complete_work_item(wi)
    for wi in ids[10:]:
        api.internal_cancel_work_item(wi)

    assert stats[-1] == tq.TaskStats(12, 0, 0, 8, 0, 4)
    snap = api.get_workflow_snapshot(wid)
    assert (snap.state, snap.tasks["A"].state) == ("completed", "completed")
