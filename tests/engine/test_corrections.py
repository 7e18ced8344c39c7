"""The corrections of docs/semantics.md, section 17, that concern the core engine, one test
per behaviour.

Each test builds the scenario the correction describes and checks what this project does; a
comment says what the reference implementation did instead.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store.tables import task_stats, work_items
from tests.helpers import dump

# --- helpers ---------------------------------------------------------------------------------


def manual_task(item: str = "item", **activities: Any) -> Any:
    """A task that creates one work item when enabled; the test starts and completes it."""

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return Builder.task(Builder.work_item(item)).with_activities(
        on_enabled=on_enabled, **activities
    )


def self_starting_task(item: str = "item", **activities: Any) -> Any:
    """A task that creates one work item when enabled; the work item starts itself."""

    def on_initialized(ctx: Any) -> None:
        ctx.work_item.start()

    work_item = Builder.work_item(item).with_activities(on_initialized=on_initialized)

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return Builder.task(work_item).with_activities(on_enabled=on_enabled, **activities)


def register(app: tq.App, workflow: Any) -> tq.WorkflowApi:
    return app.register(tq.versions(workflow.name).version("v1", workflow)).api("v1")


def only_item(api: tq.WorkflowApi, workflow_id: str, task: str) -> Any:
    (item,) = api.list_work_items(workflow_id, task_name=task)
    return item


def task_states(api: tq.WorkflowApi, workflow_id: str) -> dict[str, tuple[str, int]]:
    snapshot = api.get_workflow_snapshot(workflow_id)
    return {name: (t.state, t.generation) for name, t in snapshot.tasks.items()}


# --- §17.1 -----------------------------------------------------------------------------------


def test_task_completes_at_most_once_per_generation(app):
    events: list[str] = []
    second: list[str] = []

    def item_on_initialized(ctx: Any) -> None:
        ctx.work_item.start()

    def item_on_started(ctx: Any) -> None:
        ctx.work_item.complete()

    item = Builder.work_item("item").with_activities(
        on_initialized=item_on_initialized, on_started=item_on_started
    )

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    def on_work_item_state_changed(ctx: Any) -> None:
        # The first completed work item asks for a second one, which starts and completes
        # itself (queued) before the first one's policy runs.
        if ctx.work_item.next_state == "completed" and not second:
            second.append(ctx.work_item.initialize())

    def on_completed(ctx: Any) -> None:
        events.append(f"A.on_completed#{ctx.task.generation}")

    def wf_on_completed(ctx: Any) -> None:
        events.append("wf.on_completed")

    wf = (
        Builder.workflow("once")
        .start_condition("start")
        .end_condition("end")
        .task(
            "A",
            Builder.task(item).with_activities(
                on_enabled=on_enabled,
                on_work_item_state_changed=on_work_item_state_changed,
                on_completed=on_completed,
            ),
        )
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
        .with_activities(on_completed=wf_on_completed)
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    snapshot = api.get_workflow_snapshot(wid)
    assert second, "the scenario needs the second work item"
    assert [w.state for w in snapshot.work_items] == ["completed", "completed"]
    assert snapshot.state == "completed"
    assert snapshot.tasks["A"].state == "completed"
    assert snapshot.tasks["A"].generation == 1
    # The inner policy (second work item) completes A; the outer one (first work item) finds A
    # no longer started and does nothing. Tokens are produced once.
    # Reference: A.onCompleted fired twice and the end condition ended with marking 2.
    assert events == ["A.on_completed#1", "wf.on_completed"]
    assert snapshot.conditions["end"] == 1


# --- §17.2 -----------------------------------------------------------------------------------


def _child_workflow(name: str) -> Any:
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("t", self_starting_task())
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )


@pytest.mark.parametrize("kind", ["composite", "dynamic_composite"])
def test_completing_a_composite_task_tears_down_its_unfinished_children(app, kind):
    events: list[str] = []
    policy_calls: list[tuple[str, str]] = []

    def policy(ctx: Any) -> str:
        policy_calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        return "complete" if ctx.task.get_stats().completed >= 1 else "continue"

    def on_workflow_state_changed(ctx: Any) -> None:
        events.append(f"C.wsc {ctx.workflow.prev_state}->{ctx.workflow.next_state}")

    def on_completed(ctx: Any) -> None:
        events.append("C.on_completed")

    activities = dict(
        on_workflow_state_changed=on_workflow_state_changed, on_completed=on_completed
    )
    if kind == "composite":

        def on_enabled(ctx: Any) -> None:
            ctx.workflow.initialize()
            ctx.workflow.initialize()

        task = Builder.composite_task(_child_workflow("child"))
    else:

        def on_enabled(ctx: Any) -> None:
            ctx.workflow.initialize["first"]()
            ctx.workflow.initialize["second"]()

        task = Builder.dynamic_composite_task([_child_workflow("first"), _child_workflow("second")])
    task = task.with_policy(policy).with_activities(on_enabled=on_enabled, **activities)
    wf = (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .connect_condition("start", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    if kind == "composite":
        wf = wf.composite_task("C", task)
    else:
        wf = wf.dynamic_composite_task("C", task)
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    first, second = api.list_child_workflows(wid, "C")
    assert (first.state, second.state) == ("started", "started")
    second_item = only_item(api, second.id, "t")
    assert second_item.state == "started"

    api.internal_complete_work_item(only_item(api, first.id, "t").id)

    assert api.get_workflow_state(wid) == "completed"
    assert [c.state for c in api.list_child_workflows(wid, "C")] == ["completed", "canceled"]
    # The unfinished child was torn down with its work item, without asking the policy.
    # Reference: the second child stayed `started` under a completed composite task (orphan);
    # finishing it later ran the policy again and fired on_completed a second time.
    assert api.get_work_item_state(second_item.id) == "canceled"
    assert api.get_workflow_task_states(second.id) == {"t": "canceled"}
    assert events == [
        "C.wsc initialized->started",
        "C.wsc initialized->started",
        "C.wsc started->completed",
        "C.wsc started->canceled",
        "C.on_completed",
    ]
    assert ("started", "canceled") not in policy_calls
    assert api.get_workflow_snapshot(wid).conditions["end"] == 1

    before = dump(app)
    with pytest.raises(tq.WorkItemInvalidStateError):
        api.internal_complete_work_item(second_item.id)
    assert dump(app) == before


# --- §17.3 -----------------------------------------------------------------------------------


def _xor_join_workflow(disabled: list[str]) -> Any:
    def on_disabled(ctx: Any) -> None:
        disabled.append(f"{ctx.task.name}#{ctx.task.generation}")

    return (
        Builder.workflow("xorjoin")
        .start_condition("start")
        .condition("c1")
        .condition("c2")
        .condition("c3")
        .end_condition("end")
        .task("A", self_starting_task())
        .task("X", manual_task(on_disabled=on_disabled).with_join_type("xor"))
        .task("Y", manual_task(on_disabled=on_disabled))
        .task("Z", manual_task(on_disabled=on_disabled))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("c2"))
        # X's preset order is c2 then c1: the arc from c2 is declared first.
        .connect_condition("c2", lambda to: to.task("X").task("Y"))
        .connect_condition("c1", lambda to: to.task("X"))
        .connect_task("X", lambda to: to.condition("c3"))
        .connect_task("Y", lambda to: to.condition("c3"))
        .connect_condition("c3", lambda to: to.task("Z"))
        .connect_task("Z", lambda to: to.condition("end"))
    )


def test_xor_join_consumes_one_token_and_stays_enabled(app):
    disabled: list[str] = []
    api = register(app, _xor_join_workflow(disabled))

    # Part 1: Y (input c2) starts; X (xor-join on c2, c1) keeps its token on c1.
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    assert task_states(api, wid)["X"] == ("enabled", 1)
    api.internal_start_work_item(only_item(api, wid, "Y").id)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c1"] == 1
    assert snapshot.conditions["c2"] == 0
    # Reference: X was disabled although c1 still held a token, and stayed disabled forever.
    assert (snapshot.tasks["X"].state, snapshot.tasks["X"].generation) == ("enabled", 1)
    assert disabled == []

    # Part 2: X starts with both inputs marked and consumes from the first marked input in
    # preset order (c2), leaving c1. Reference: both inputs were emptied.
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    (x_item,) = api.list_work_items(wid, task_name="X")
    api.internal_start_work_item(x_item.id)
    snapshot = api.get_workflow_snapshot(wid)
    assert (snapshot.conditions["c1"], snapshot.conditions["c2"]) == (1, 0)
    # Deferred choice still withdraws the loser: Y has lost its only input.
    assert snapshot.tasks["Y"].state == "disabled"
    assert disabled == ["Y#1"]
    # When X completes, the token left on c1 enables it again at once, in a new generation.
    api.internal_complete_work_item(x_item.id)
    states = task_states(api, wid)
    assert states["X"] == ("enabled", 2)
    assert states["Z"] == ("enabled", 1)
    assert api.get_workflow_snapshot(wid).conditions["c1"] == 1


def test_task_canceled_by_a_region_is_enabled_again_while_its_inputs_hold_tokens(app):
    events: list[str] = []

    def record(name: str) -> Any:
        return lambda ctx: events.append(f"B.{name}#{ctx.task.generation}")

    def b_enabled(ctx: Any) -> None:
        events.append(f"B.on_enabled#{ctx.task.generation}")
        ctx.work_item.initialize()

    wf = (
        Builder.workflow("reenable")
        .start_condition("start")
        .condition("c1")
        .condition("c2")
        .condition("c3")
        .end_condition("end")
        .task("A", self_starting_task())
        .task(
            "B",
            Builder.task(Builder.work_item("item")).with_activities(
                on_enabled=b_enabled, on_canceled=record("on_canceled")
            ),
        )
        .task("R", self_starting_task())
        .task("Z", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("c2"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_condition("c2", lambda to: to.task("R"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("R", lambda to: to.condition("c3"))
        .connect_condition("c3", lambda to: to.task("Z"))
        .connect_task("Z", lambda to: to.condition("end"))
        .with_cancellation_region("R", lambda cr: cr.task("B"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    (first,) = api.list_work_items(wid, task_name="B")
    assert task_states(api, wid)["B"] == ("enabled", 1)

    api.internal_complete_work_item(only_item(api, wid, "R").id)

    # R's region cancels B, but c1 still holds B's token: B is enabled again at once, in a new
    # generation (as in YAWL). Reference: B stayed `canceled` with a token waiting on c1.
    assert events == ["B.on_enabled#1", "B.on_canceled#1", "B.on_enabled#2"]
    assert task_states(api, wid)["B"] == ("enabled", 2)
    assert api.get_workflow_snapshot(wid).conditions["c1"] == 1
    b_items = api.list_work_items(wid, task_name="B")
    assert [(w.id, w.state, w.generation) for w in b_items[:1]] == [(first.id, "canceled", 1)]
    assert [(w.state, w.generation) for w in b_items] == [("canceled", 1), ("initialized", 2)]


def test_completion_that_reaches_the_end_enables_nothing(app):
    events: list[str] = []

    def record(name: str) -> Any:
        return lambda ctx: events.append(f"B.{name}")

    wf = (
        Builder.workflow("early")
        .start_condition("start")
        .condition("c")
        .end_condition("end")
        .task("A", self_starting_task())
        .task(
            "B",
            manual_task(on_disabled=record("on_disabled")).with_activities(
                on_completed=record("on_completed")
            ),
        )
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end").condition("c"))
        .connect_condition("c", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)

    # The end condition is marked by the same completion that marks c: the workflow completes
    # first and B is never enabled. Reference: B got on_enabled, then on_disabled.
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert (snapshot.tasks["B"].state, snapshot.tasks["B"].generation) == ("disabled", 0)
    assert events == []
    assert api.list_work_items(wid, task_name="B") == []
    # Leftover tokens stay where they are.
    assert (snapshot.conditions["c"], snapshot.conditions["end"]) == (1, 1)


# --- §17.4 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["right after the task starts", "after a child completes"])
def test_policy_fail_at_start_fails_the_workflow(app, when):
    events: list[str] = []
    transitions: list[tuple[str, str]] = []

    def fail_policy(ctx: Any) -> str:
        transitions.append((ctx.transition.prev_state, ctx.transition.next_state))
        if when == "after a child completes" and ctx.task.get_stats().completed == 0:
            return "continue"
        return "fail"

    def record(name: str) -> Any:
        return lambda ctx: events.append(name)

    wf = (
        Builder.workflow("pfail")
        .start_condition("start")
        .condition("a_done")
        .condition("b_done")
        .end_condition("end")
        .dummy_task("split", Builder.dummy_task())
        .task("A", manual_task(on_failed=record("A.on_failed")).with_policy(fail_policy))
        .task("B", manual_task(on_disabled=record("B.on_disabled")))
        .dummy_task("join", Builder.dummy_task())
        .connect_condition("start", lambda to: to.task("split"))
        .connect_task("split", lambda to: to.task("A").task("B"))
        .connect_task("A", lambda to: to.condition("a_done"))
        .connect_task("B", lambda to: to.condition("b_done"))
        .connect_condition("a_done", lambda to: to.task("join"))
        .connect_condition("b_done", lambda to: to.task("join"))
        .connect_task("join", lambda to: to.condition("end"))
        .with_activities(on_failed=record("wf.on_failed"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    a_item = only_item(api, wid, "A")
    b_item = only_item(api, wid, "B")

    # A business failure is a state, not an exception.
    api.internal_start_work_item(a_item.id)
    if when == "after a child completes":
        assert api.get_workflow_task_states(wid)["A"] == "started"
        api.internal_complete_work_item(a_item.id)
        assert transitions == [("started", "completed"), ("started", "completed")]
        assert api.get_work_item_state(a_item.id) == "completed"
    else:
        # The policy ran once, for the evaluation right after A started, and said "fail".
        assert transitions == [("started", "completed")]
        # Reference: only the task failed; the workflow and the work item stayed `started`.
        assert api.get_work_item_state(a_item.id) == "canceled"

    assert api.get_workflow_state(wid) == "failed"
    assert api.get_workflow_task_states(wid)["A"] == "failed"
    assert api.get_workflow_task_states(wid)["B"] == "disabled"
    assert api.get_work_item_state(b_item.id) == "canceled"
    assert events.count("wf.on_failed") == 1
    assert events.index("A.on_failed") < events.index("wf.on_failed")


# --- §17.5 -----------------------------------------------------------------------------------


def test_or_join_is_reevaluated_when_a_path_dies_elsewhere(app):
    def route(ctx: Any) -> Any:
        return ctx.route.to_condition("z")

    wf = (
        Builder.workflow("orjoin")
        .start_condition("start")
        .condition("c1")
        .condition("c2")
        .condition("x")
        .condition("y")
        .condition("z")
        .condition("j_done")
        .condition("z_done")
        .end_condition("end")
        .task("A", manual_task())
        .task("X", manual_task().with_split_type("xor"))
        .task("Y", manual_task())
        .task("Z", manual_task())
        .task("J", manual_task().with_join_type("or"))
        .task("F", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("x"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_task("X", lambda to: to.condition("y").condition("z").route(route))
        .connect_condition("y", lambda to: to.task("Y"))
        .connect_task("Y", lambda to: to.condition("c2"))
        .connect_condition("z", lambda to: to.task("Z"))
        .connect_task("Z", lambda to: to.condition("z_done"))
        .connect_condition("c1", lambda to: to.task("J"))
        .connect_condition("c2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("j_done"))
        .connect_condition("j_done", lambda to: to.task("F"))
        .connect_condition("z_done", lambda to: to.task("F"))
        .connect_task("F", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    def finish(task: str) -> None:
        (item,) = api.list_work_items(wid, task_name=task, state="initialized")
        api.internal_start_work_item(item.id)
        api.internal_complete_work_item(item.id)

    finish("A")
    # X may still route to y, and Y would then mark c2: J waits.
    assert api.get_workflow_task_states(wid)["J"] == "disabled"
    finish("X")
    # X routed to z: c2 can no longer be marked, so J is enabled now, although X's outputs
    # are not J's inputs. Reference: J was never re-checked and the case deadlocked.
    snapshot = api.get_workflow_snapshot(wid)
    assert (snapshot.conditions["c1"], snapshot.conditions["c2"]) == (1, 0)
    assert snapshot.tasks["J"].state == "enabled"
    finish("J")
    finish("Z")
    finish("F")
    assert api.get_workflow_state(wid) == "completed"


# --- §17.6 -----------------------------------------------------------------------------------


def test_auto_triggers_run_as_internal_calls(app):
    seen: list[tuple[str, bool]] = []

    def allow(ctx: Any, payload: Any) -> None:
        """A custom action: public callers may use it (it does its own authorization)."""

    def custom_start(ctx: Any, payload: Any) -> None:
        ctx.work_item.start()

    def on_initialized(ctx: Any) -> None:
        seen.append(("on_initialized", ctx.is_internal))
        if ctx.parent.task.name == "A":
            ctx.work_item.start()  # immediate (no queue), default start action

    def on_started(ctx: Any) -> None:
        seen.append(("on_started", ctx.is_internal))
        ctx.work_item.complete()  # immediate, default complete action

    def on_completed(ctx: Any) -> None:
        seen.append(("on_completed", ctx.is_internal))

    def item(name: str, actions: Any) -> Any:
        return (
            Builder.work_item(name)
            .with_actions(actions)
            .with_activities(
                on_initialized=on_initialized, on_started=on_started, on_completed=on_completed
            )
        )

    wf = (
        Builder.workflow("internal")
        .start_condition("start")
        .end_condition("end")
        # A: created by a public initialize_work_item; its on_initialized starts it.
        .task("A", Builder.task(item("a", Builder.work_item_actions().initialize(Any, allow))))
        # B: started by a public start_work_item; its on_started completes it.
        .task(
            "B",
            Builder.task(item("b", Builder.work_item_actions().start(Any, custom_start))),
        )
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    target = {"path": ["internal", "A", "a"], "parent_workflow_id": wid, "parent_task_name": "A"}
    # Reference: the immediate auto-triggers inherited is_internal=False from the public call,
    # so the default start / complete actions raised NotInternalMutationError.
    a_id = api.initialize_work_item(target)
    assert api.get_work_item_state(a_id) == "completed"
    assert seen == [("on_initialized", False), ("on_started", True), ("on_completed", True)]

    seen.clear()
    target = {"path": ["internal", "B", "b"], "parent_workflow_id": wid, "parent_task_name": "B"}
    b_id = api.internal_initialize_work_item(target)
    seen.clear()
    api.start_work_item(b_id)
    assert api.get_work_item_state(b_id) == "completed"
    assert seen == [("on_started", False), ("on_completed", True)]
    assert api.get_workflow_state(wid) == "completed"


# --- §17.7 -----------------------------------------------------------------------------------


def _dummy_first(name: str, events: list[str], ref: dict[str, Any]) -> Any:
    def record(what: str) -> Any:
        return lambda ctx: events.append(what)

    def on_initialized(ctx: Any) -> None:
        events.append("wf.on_initialized")
        api = ref["api"]
        # The rows exist, but nothing is enabled yet: the start token is still there.
        assert api.get_workflow_task_states(ctx.workflow.id, ctx=ctx) == {"d": "disabled"}
        assert api.get_workflow_snapshot(ctx.workflow.id, ctx=ctx).conditions == {
            "start": 1,
            "end": 0,
        }

    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .dummy_task(
            "d",
            Builder.dummy_task().with_activities(
                on_enabled=record("d.on_enabled"),
                on_started=record("d.on_started"),
                on_completed=record("d.on_completed"),
            ),
        )
        .connect_condition("start", lambda to: to.task("d"))
        .connect_task("d", lambda to: to.condition("end"))
        .with_activities(
            on_initialized=on_initialized,
            on_started=record("wf.on_started"),
            on_completed=record("wf.on_completed"),
        )
    )


def test_workflow_on_initialized_fires_before_any_task_is_enabled(app):
    events: list[str] = []
    ref: dict[str, Any] = {}
    ref["api"] = api = register(app, _dummy_first("dummyfirst", events, ref))
    wid = api.internal_initialize_root_workflow()

    assert api.get_workflow_state(wid) == "completed"
    # Reference: ["d.onEnabled", "wf.onStarted", ..., "wf.onCompleted", "wf.onInitialized"].
    assert events == [
        "wf.on_initialized",
        "d.on_enabled",
        "wf.on_started",
        "d.on_started",
        "d.on_completed",
        "wf.on_completed",
    ]


def test_child_workflow_on_initialized_fires_before_any_of_its_tasks_is_enabled(app):
    events: list[str] = []
    ref: dict[str, Any] = {}

    def on_enabled(ctx: Any) -> None:
        events.append("C.on_enabled")
        ctx.workflow.initialize()

    wf = (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .composite_task(
            "C",
            Builder.composite_task(_dummy_first("child", events, ref)).with_activities(
                on_enabled=on_enabled, on_completed=lambda ctx: events.append("C.on_completed")
            ),
        )
        .connect_condition("start", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    ref["api"] = api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    assert api.get_workflow_state(wid) == "completed"
    assert events[:3] == ["C.on_enabled", "wf.on_initialized", "d.on_enabled"]
    assert events.count("wf.on_initialized") == 1
    assert events[-1] == "C.on_completed"


# --- §17.8 -----------------------------------------------------------------------------------


def _routed_workflow(split: str, router: Any) -> Any:
    return (
        Builder.workflow("routes")
        .start_condition("start")
        .condition("c")
        .condition("elsewhere")
        .end_condition("end")
        .task("A", self_starting_task().with_split_type(split))
        .task("B", manual_task())
        .task("C", manual_task())
        .task("E", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").condition("c").route(router))
        .connect_condition("c", lambda to: to.task("C"))
        .connect_task("B", lambda to: to.condition("elsewhere"))
        .connect_task("C", lambda to: to.condition("end"))
        .connect_condition("elsewhere", lambda to: to.task("E"))
        .connect_task("E", lambda to: to.condition("end"))
    )


BAD_ROUTES = {
    "xor to a condition that is not an output": (
        "xor",
        lambda ctx: ctx.route.to_condition("elsewhere"),
    ),
    "xor to a task that does not follow": ("xor", lambda ctx: ctx.route.to_task("E")),
    "xor to an unknown task": ("xor", lambda ctx: ctx.route.to_task("nope")),
    "xor with two routes": (
        "xor",
        lambda ctx: [ctx.route.to_task("B"), ctx.route.to_condition("c")],
    ),
    "xor with no route": ("xor", lambda ctx: []),
    "xor returning a name": ("xor", lambda ctx: "B"),
    "or with an empty list": ("or", lambda ctx: []),
    "or to a condition that is not an output": (
        "or",
        lambda ctx: [ctx.route.to_task("B"), ctx.route.to_condition("elsewhere")],
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROUTES))
def test_route_to_a_non_outgoing_condition_is_rejected(app, case):
    split, router = BAD_ROUTES[case]
    api = register(app, _routed_workflow(split, router))
    wid = api.internal_initialize_root_workflow()
    a_item = only_item(api, wid, "A")
    before = dump(app)

    # Reference: a route to a condition that is not an output produced no token at all and
    # the case stalled silently; an empty OR route did the same.
    with pytest.raises(tq.TaskInvalidRouteError, match="A"):
        api.internal_complete_work_item(a_item.id)

    assert dump(app) == before
    assert api.get_work_item_state(a_item.id) == "started"
    assert api.get_workflow_task_states(wid)["A"] == "started"


@pytest.mark.parametrize(
    ("split", "router", "enabled"),
    [
        ("xor", lambda ctx: ctx.route.to_task("B"), {"B"}),
        ("xor", lambda ctx: [ctx.route.to_condition("c")], {"C"}),
        ("or", lambda ctx: [ctx.route.to_task("B"), ctx.route.to_condition("c")], {"B", "C"}),
    ],
)
def test_valid_routes_are_taken(app, split, router, enabled):
    api = register(app, _routed_workflow(split, router))
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    states = api.get_workflow_task_states(wid)
    assert {name for name, state in states.items() if state == "enabled"} == enabled


# --- §17.9 -----------------------------------------------------------------------------------


def test_dummy_task_fires_on_disabled_and_on_canceled(app):
    events: list[str] = []
    apis: dict[str, tq.WorkflowApi] = {}

    def record(name: str) -> Any:
        return lambda ctx: events.append(f"{ctx.task.name}.{name}")

    def dummy(on_enabled: Any) -> Any:
        return Builder.dummy_task().with_activities(
            on_enabled=on_enabled,
            on_started=record("on_started"),
            on_completed=record("on_completed"),
            on_disabled=record("on_disabled"),
            on_canceled=record("on_canceled"),
        )

    # Deferred choice: start -> {B, D}. While D is enabled (its on_enabled), B's work item
    # starts, which consumes the start token: D loses its input and is disabled.
    def start_b(ctx: Any) -> None:
        events.append("D.on_enabled")
        api = apis["choice"]
        (item,) = api.list_work_items(ctx.parent.workflow.id, task_name="B", ctx=ctx)
        api.internal_start_work_item(item.id, ctx=ctx)

    choice = (
        Builder.workflow("choice")
        .start_condition("start")
        .end_condition("end")
        .task("B", manual_task())
        .dummy_task("D", dummy(start_b))
        .connect_condition("start", lambda to: to.task("B").task("D"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("D", lambda to: to.condition("end"))
    )
    apis["choice"] = api = register(app, choice)
    wid = api.internal_initialize_root_workflow()
    # Reference: a dummy task's on_disabled was never called.
    assert events == ["D.on_enabled", "D.on_disabled"]
    assert api.get_workflow_task_states(wid) == {"B": "started", "D": "disabled"}

    # Cancellation region: B's region holds D. While D is enabled, B completes.
    events.clear()

    def complete_b(ctx: Any) -> None:
        events.append("D.on_enabled")
        api = apis["region"]
        (item,) = api.list_work_items(ctx.parent.workflow.id, task_name="B", ctx=ctx)
        api.internal_complete_work_item(item.id, ctx=ctx)

    region = (
        Builder.workflow("region")
        .start_condition("start")
        .condition("c1")
        .condition("c2")
        .end_condition("end")
        .task("A", self_starting_task())
        .task("B", self_starting_task())
        .dummy_task("D", dummy(complete_b))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("c2"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_condition("c2", lambda to: to.task("D"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("D", lambda to: to.condition("end"))
        .with_cancellation_region("B", lambda cr: cr.task("D").condition("c2"))
    )
    apis["region"] = api = register(app, region)
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)
    # Reference: a dummy task's on_canceled was never called.
    assert events == ["D.on_enabled", "D.on_canceled"]
    assert api.get_workflow_state(wid) == "completed"
    assert api.get_workflow_task_states(wid)["D"] == "canceled"


# --- §17.12 ----------------------------------------------------------------------------------


def _child() -> Any:
    return (
        Builder.workflow("child")
        .start_condition("start")
        .end_condition("end")
        .task("t", manual_task())
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )


def test_cancel_root_workflow_rejects_a_child_id(app):
    def on_enabled(ctx: Any) -> None:
        ctx.workflow.initialize()

    wf = (
        Builder.workflow("rootonly")
        .start_condition("start")
        .end_condition("end")
        .composite_task(
            "C", Builder.composite_task(_child()).with_activities(on_enabled=on_enabled)
        )
        .connect_condition("start", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    (child,) = api.list_child_workflows(wid, "C")
    before = dump(app)

    # Reference: cancelRootWorkflow did not check that the id is a root's.
    with pytest.raises(tq.StructuralIntegrityError, match=child.id):
        api.internal_cancel_root_workflow(child.id)
    assert dump(app) == before
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_cancel_root_workflow("no-such-workflow")
    assert dump(app) == before

    api.internal_cancel_root_workflow(wid)
    assert api.get_workflow_state(wid) == "canceled"
    assert api.get_workflow_state(child.id) == "canceled"


def test_target_path_must_go_through_the_parent_task(app):
    wf = (
        Builder.workflow("targets")
        .start_condition("start")
        .condition("done_a")
        .condition("done_b")
        .condition("done_c")
        .end_condition("end")
        .dummy_task("split", Builder.dummy_task())
        .task("A", Builder.task(Builder.work_item("item_a")))
        .task("B", Builder.task(Builder.work_item("item_b")))
        .composite_task("C", Builder.composite_task(_child()))
        .dummy_task("join", Builder.dummy_task())
        .connect_condition("start", lambda to: to.task("split"))
        .connect_task("split", lambda to: to.task("A").task("B").task("C"))
        .connect_task("A", lambda to: to.condition("done_a"))
        .connect_task("B", lambda to: to.condition("done_b"))
        .connect_task("C", lambda to: to.condition("done_c"))
        .connect_condition("done_a", lambda to: to.task("join"))
        .connect_condition("done_b", lambda to: to.task("join"))
        .connect_condition("done_c", lambda to: to.task("join"))
        .connect_task("join", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert api.get_workflow_task_states(wid) == {
        "split": "completed",
        "A": "enabled",
        "B": "enabled",
        "C": "enabled",
        "join": "disabled",
    }
    before = dump(app)

    # Reference: the path was resolved on its own and the task row by name, so an `item_a`
    # work item was created under task B (and a child workflow under the wrong task).
    bad_work_item = {"path": ["targets", "A", "item_a"], "parent_workflow_id": wid}
    with pytest.raises(tq.ElementNotFoundInPathError, match="B"):
        api.internal_initialize_work_item({**bad_work_item, "parent_task_name": "B"})
    with pytest.raises(tq.ElementNotFoundInPathError):
        api.internal_initialize_work_item(tq.Target(("targets", "A", "item_a"), wid, "B"))
    bad_child = {"path": ["targets", "A", "child"], "parent_workflow_id": wid}
    with pytest.raises(tq.ElementNotFoundInPathError, match="C"):
        api.internal_initialize_workflow({**bad_child, "parent_task_name": "C"})
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_initialize_work_item(
            {
                "path": ["targets", "A", "item_a"],
                "parent_workflow_id": "nope",
                "parent_task_name": "A",
            }
        )
    assert dump(app) == before

    item_id = api.internal_initialize_work_item(
        {"path": ["targets", "A", "item_a"], "parent_workflow_id": wid, "parent_task_name": "A"}
    )
    child_id = api.internal_initialize_workflow(
        {"path": ["targets", "C", "child"], "parent_workflow_id": wid, "parent_task_name": "C"}
    )
    (item,) = api.list_work_items(wid)
    assert (item.id, item.task_name, item.name) == (item_id, "A", "item_a")
    (child,) = api.list_child_workflows(wid, "C")
    assert (child.id, child.name) == (child_id, "child")


# --- §17.14 ---------------------------------------------------------------------------------


def _looping_two_item_workflow() -> Any:
    """start -> A (xor join, xor split) -> back -> A once more -> end. Each generation of A
    gets two work items; A completes as soon as one of them completes."""

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()
        ctx.work_item.initialize()

    def first_done(ctx: Any) -> str:
        return "complete" if ctx.task.get_stats().completed >= 1 else "continue"

    def router(ctx: Any) -> Any:
        return ctx.route.to_condition("back" if ctx.task.generation < 2 else "end")

    task = (
        Builder.task(Builder.work_item("item"))
        .with_join_type("xor")
        .with_split_type("xor")
        .with_policy(first_done)
        .with_activities(on_enabled=on_enabled)
    )
    return (
        Builder.workflow("leftover")
        .start_condition("start")
        .condition("back")
        .end_condition("end")
        .task("A", task)
        .connect_condition("start", lambda to: to.task("A"))
        .connect_condition("back", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("back").condition("end").route(router))
    )


def test_leftover_work_item_of_a_finished_generation_cannot_start(app):
    api = register(app, _looping_two_item_workflow())
    wid = api.internal_initialize_root_workflow()
    first, second = api.list_work_items(wid, task_name="A")
    api.internal_start_work_item(first.id)
    api.internal_complete_work_item(first.id)
    # Generation 1 is over (its unfinished work item was torn down); generation 2 is enabled.
    assert task_states(api, wid)["A"] == ("enabled", 2)
    assert [(w.state, w.generation) for w in api.list_work_items(wid)] == [
        ("completed", 1),
        ("canceled", 1),
        ("initialized", 2),
        ("initialized", 2),
    ]
    # The engine tears unfinished work items down, so a leftover only exists when something
    # else (a defect, data written by another implementation) left it behind; recreate that.
    with app.engine.begin() as connection:
        connection.execute(
            sa.update(work_items).where(work_items.c.id == second.id).values(state="initialized")
        )
    before = dump(app)

    # Reference: Task.ensureStarted did not check the task, so the leftover of generation 1
    # started generation 2 of A (or flipped a finished task back to `started`).
    with pytest.raises(tq.WorkItemInvalidStateError, match=second.id):
        api.internal_start_work_item(second.id)

    assert dump(app) == before
    assert task_states(api, wid)["A"] == ("enabled", 2)
    assert api.get_workflow_state(wid) == "started"


def test_work_item_is_not_created_once_its_task_has_finished(app):
    """How a leftover would arise: a work item's initialize action finishes the task before
    the work item exists. Creation checks the task again (a work item is created only
    while its task's current generation is enabled or started) and the call rolls back."""
    ref: dict[str, Any] = {}

    def initialize(ctx: Any, payload: Any) -> None:
        if payload == "finish-first":
            ref["api"].internal_complete_work_item(ref["first"], ctx=ctx)
        ctx.work_item.initialize()

    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().initialize(Any, initialize)
    )
    wf = (
        Builder.workflow("late")
        .start_condition("start")
        .end_condition("end")
        .task("A", Builder.task(item))
        .task("B", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    ref["api"] = api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["late", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
    ref["first"] = api.internal_initialize_work_item(target)
    api.internal_start_work_item(ref["first"])
    before = dump(app)

    with pytest.raises(tq.InvalidStateTransitionError, match="A"):
        api.internal_initialize_work_item(target, "finish-first")

    assert dump(app) == before
    assert api.get_workflow_task_states(wid) == {"A": "started", "B": "disabled"}
    assert [(w.id, w.state) for w in api.list_work_items(wid)] == [(ref["first"], "started")]


def test_work_item_torn_down_during_its_start_action_does_not_start(app):
    """§17.14: the start action of B's work item completes task A through a nested call, which
    tears that very work item down. It must not start afterwards: either the call is refused
    and rolls back, or the start stops there. Either way no `on_started` for it, no
    `initialized -> started` report, and the stats still count the work items by state
    (docs/semantics.md, section 11.3)."""
    ref: dict[str, Any] = {}
    events: list[tuple[str, ...]] = []

    def start(ctx: Any, payload: Any) -> None:
        if payload == "finish-first":
            ref["api"].internal_complete_work_item(ref["first"], ctx=ctx)
        ctx.work_item.start()

    item = (
        Builder.work_item("item")
        .with_actions(Builder.work_item_actions().start(Any, start))
        .with_activities(on_started=lambda ctx: events.append(("on_started", ctx.work_item.id)))
    )

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()
        ctx.work_item.initialize()

    def on_work_item_state_changed(ctx: Any) -> None:
        change = ctx.work_item
        events.append(("changed", change.id, change.prev_state, change.next_state))

    def first_done(ctx: Any) -> str:
        return "complete" if ctx.task.get_stats().completed >= 1 else "continue"

    wf = (
        Builder.workflow("torn")
        .start_condition("start")
        .end_condition("end")
        .task(
            "A",
            Builder.task(item)
            .with_policy(first_done)
            .with_activities(
                on_enabled=on_enabled, on_work_item_state_changed=on_work_item_state_changed
            ),
        )
        .task("B", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    ref["api"] = api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    first, second = api.list_work_items(wid, task_name="A")
    ref["first"] = first.id
    api.internal_start_work_item(first.id)
    events.clear()
    before = dump(app)

    try:
        api.internal_start_work_item(second.id, "finish-first")
    except tq.WorkItemInvalidStateError:
        assert dump(app) == before
        return

    assert api.get_workflow_task_states(wid) == {"A": "completed", "B": "enabled"}
    assert api.get_work_item_state(second.id) == "canceled"
    assert ("on_started", second.id) not in events
    assert ("changed", second.id, "initialized", "started") not in events
    with app.engine.connect() as connection:
        counted = connection.execute(
            sa.select(
                sa.func.sum(task_stats.c.total),
                sa.func.sum(task_stats.c.initialized),
                sa.func.sum(task_stats.c.started),
                sa.func.sum(task_stats.c.completed),
                sa.func.sum(task_stats.c.canceled),
            ).where(
                task_stats.c.workflow_id == wid,
                task_stats.c.task_name == "A",
                task_stats.c.generation == 1,
            )
        ).one()
        connection.rollback()
    # total, initialized, started, completed, canceled
    assert tuple(counted) == (2, 0, 0, 1, 1)
