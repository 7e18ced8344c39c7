"""Loops and task generations, cancellation regions, dummy tasks and workflow completion
(docs/semantics.md, sections 2, 5, 17.3, 17.7 and 17.9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.engine.flow_helpers import (
    chooser,
    current_item,
    finish,
    register,
    task_states,
    tracked_task,
)

# --- helpers ---------------------------------------------------------------------------------


def tracked_dummy(log: list[str], *, join: str = "and", split: str = "and") -> Any:
    def record(event: str) -> Callable[[Any], None]:
        def activity(ctx: Any) -> None:
            log.append(f"{ctx.task.name}.{event}#{ctx.task.generation}")

        return activity

    return (
        Builder.dummy_task()
        .with_join_type(join)
        .with_split_type(split)
        .with_activities(
            on_enabled=record("enabled"),
            on_started=record("started"),
            on_completed=record("completed"),
            on_disabled=record("disabled"),
            on_canceled=record("canceled"),
        )
    )


def workflow_activities(log: list[str]) -> dict[str, Callable[[Any], None]]:
    def record(event: str) -> Callable[[Any], None]:
        def activity(ctx: Any) -> None:
            log.append(f"wf.{event}")

        return activity

    return {
        name: record(name[3:])
        for name in ("on_initialized", "on_started", "on_completed", "on_failed", "on_canceled")
    }


def by_generation(routes: list[str]) -> Callable[[Any], Any]:
    """An XOR router taking routes[generation - 1] ("cond:<name>" or a task name)."""

    def route(ctx: Any) -> Any:
        target = routes[ctx.task.generation - 1]
        if target.startswith("cond:"):
            return ctx.route.to_condition(target[5:])
        return ctx.route.to_task(target)

    return route


# --- loops and generations -------------------------------------------------------------------


def loop(log: list[str], routes: list[str], seen: list[tuple[int, list[str]]]) -> Any:
    """start -> A -> c1; c1 -> B -> C; C (XOR) -> c1 | end."""
    choose = by_generation(routes)

    def router(ctx: Any) -> Any:
        seen.append((ctx.task.generation, ctx.work_item.get_all_work_item_ids()))
        return choose(ctx)

    return (
        Builder.workflow("loop")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log, split="xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("c1").condition("end").route(router))
    )


def test_a_loop_enables_its_tasks_again_with_the_next_generation_each_time(app):
    log: list[str] = []
    seen: list[tuple[int, list[str]]] = []
    api = register(app, loop(log, ["cond:c1", "cond:c1", "cond:end"], seen))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    for iteration in (1, 2, 3):
        assert task_states(api, wid)["B"] == ("started", iteration)
        finish(api, wid, "B")
        assert task_states(api, wid)["C"] == ("started", iteration)
        finish(api, wid, "C")
        if iteration < 3:
            snapshot = api.get_workflow_snapshot(wid)
            assert snapshot.state == "started"
            assert snapshot.tasks["C"] == tq.TaskSnapshot("completed", iteration)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions == {"start": 0, "end": 1, "c1": 0, "B__to__C": 0}
    assert task_states(api, wid) == {
        "A": ("completed", 1),
        "B": ("completed", 3),
        "C": ("completed", 3),
    }
    assert [e for e in log if e.startswith("B.")] == [
        f"B.{event}#{g}" for g in (1, 2, 3) for event in ("enabled", "started", "completed")
    ]
    assert [e for e in log if e.startswith("C.enabled")] == [
        "C.enabled#1",
        "C.enabled#2",
        "C.enabled#3",
    ]


def test_work_items_belong_to_their_generation_and_are_listed_oldest_first(app):
    log: list[str] = []
    seen: list[tuple[int, list[str]]] = []
    api = register(app, loop(log, ["cond:c1", "cond:c1", "cond:end"], seen))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "B")
    finish(api, wid, "C")
    items = api.list_work_items(wid, task_name="B")
    assert [(w.generation, w.state, w.task_name, w.name) for w in items] == [
        (1, "completed", "B", "item"),
        (2, "started", "B", "item"),
    ]
    finish(api, wid, "B")
    finish(api, wid, "C")
    finish(api, wid, "B")
    finish(api, wid, "C")

    c_items = api.list_work_items(wid, task_name="C")
    assert [(w.generation, w.state) for w in c_items] == [
        (1, "completed"),
        (2, "completed"),
        (3, "completed"),
    ]
    # the router of each generation sees only that generation's work items
    assert seen == [(g, [c_items[g - 1].id]) for g in (1, 2, 3)]
    everything = api.list_work_items(wid)
    assert [w.id for w in everything] == sorted(w.id for w in everything)
    assert [(w.task_name, w.generation) for w in everything] == [
        ("A", 1),
        ("B", 1),
        ("C", 1),
        ("B", 2),
        ("C", 2),
        ("B", 3),
        ("C", 3),
    ]
    assert api.list_work_items(wid, task_name="B", state="completed") == [
        w for w in everything if w.task_name == "B"
    ]
    assert api.get_workflow_snapshot(wid).work_items == everything


def test_dummy_task_in_a_loop_gets_a_new_generation_each_round(app):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_loop")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log))
        .dummy_task("D", tracked_dummy(log))
        .task("B", tracked_task(log, split="xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1"))
        .connect_condition("c1", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("B"))
        .connect_task(
            "B",
            lambda to: (
                to.condition("c1").condition("end").route(by_generation(["cond:c1", "cond:end"]))
            ),
        )
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert task_states(api, wid)["D"] == ("completed", 1)
    finish(api, wid, "B")
    assert task_states(api, wid)["D"] == ("completed", 2)
    assert task_states(api, wid)["B"] == ("started", 2)
    finish(api, wid, "B")
    assert api.get_workflow_state(wid) == "completed"
    assert [e for e in log if e.startswith("D.")] == [
        f"D.{event}#{g}" for g in (1, 2) for event in ("enabled", "started", "completed")
    ]


# --- cancellation regions --------------------------------------------------------------------


def region_net(log: list[str], *, x_auto: bool, region: Callable[[Any], Any]) -> Any:
    """start -> S (AND) -> {x, w}; x -> X -> xo; w -> W -> wo; xo, wo -> F -> end.
    W's completion applies `region`."""
    return (
        Builder.workflow("region")
        .start_condition("start")
        .end_condition("end")
        .condition("x")
        .condition("w")
        .condition("xo")
        .condition("wo")
        .task("S", tracked_task(log))
        .task("X", tracked_task(log, auto_start=x_auto))
        .task("W", tracked_task(log, auto_start=False))
        .task("F", tracked_task(log))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task("S", lambda to: to.condition("x").condition("w"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_condition("w", lambda to: to.task("W"))
        .connect_task("X", lambda to: to.condition("xo"))
        .connect_task("W", lambda to: to.condition("wo"))
        .connect_condition("xo", lambda to: to.task("F"))
        .connect_condition("wo", lambda to: to.task("F"))
        .connect_task("F", lambda to: to.condition("end"))
        .with_cancellation_region("W", region)
    )


def test_a_task_cancelled_by_a_region_while_its_input_is_marked_is_enabled_again_at_once(app):
    log: list[str] = []
    api = register(app, region_net(log, x_auto=False, region=lambda cr: cr.task("X")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    first = current_item(api, wid, "X")
    assert task_states(api, wid)["X"] == ("enabled", 1)
    del log[:]

    finish(api, wid, "W")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["X"] == tq.TaskSnapshot("enabled", 2)
    assert snapshot.conditions["x"] == 1
    assert snapshot.conditions["wo"] == 1
    assert api.get_work_item_state(first.id) == "canceled"
    assert [e for e in log if e.startswith("X.")] == [
        "X.item_canceled#1",
        "X.canceled#1",
        "X.enabled#2",
    ]
    assert log.index("W.completed#1") < log.index("X.canceled#1")
    assert [(w.generation, w.state) for w in api.list_work_items(wid, task_name="X")] == [
        (1, "canceled"),
        (2, "initialized"),
    ]

    finish(api, wid, "X")
    finish(api, wid, "F")
    assert api.get_workflow_state(wid) == "completed"


def test_a_started_task_cancelled_by_a_region_stays_cancelled_when_its_input_is_empty(app):
    log: list[str] = []
    api = register(app, region_net(log, x_auto=True, region=lambda cr: cr.task("X")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    item = current_item(api, wid, "X")
    assert item.state == "started"
    finish(api, wid, "W")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["X"] == tq.TaskSnapshot("canceled", 1)
    assert snapshot.conditions["x"] == 0
    assert api.get_work_item_state(item.id) == "canceled"
    assert "X.enabled#2" not in log
    assert snapshot.tasks["F"] == tq.TaskSnapshot("disabled", 0)


def test_region_clearing_the_input_of_a_cancelled_task_keeps_it_cancelled(app):
    log: list[str] = []
    api = register(
        app, region_net(log, x_auto=False, region=lambda cr: cr.task("X").condition("x"))
    )
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    finish(api, wid, "W")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["X"] == tq.TaskSnapshot("canceled", 1)
    assert snapshot.conditions["x"] == 0
    assert "X.disabled#1" not in log  # an enabled region member is cancelled, not disabled
    assert "X.canceled#1" in log


def wide_region(log: list[str]) -> Any:
    """start -> S (AND) -> {p, q, a, b, r}; p -> P -> end; q -> Q -> end; a -> T1 -> c;
    b -> T2 -> c; c, d -> U (AND) -> end; r -> R -> d. R's region: {P, Q, p, q, c}."""
    return (
        Builder.workflow("wide_region")
        .start_condition("start")
        .end_condition("end")
        .condition("p")
        .condition("q")
        .condition("a")
        .condition("b")
        .condition("c")
        .condition("d")
        .condition("r")
        .task("S", tracked_task(log))
        .task("P", tracked_task(log))
        .task("Q", tracked_task(log, auto_start=False))
        .task("T1", tracked_task(log))
        .task("T2", tracked_task(log))
        .task("U", tracked_task(log))
        .task("R", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task(
            "S",
            lambda to: (
                to.condition("p").condition("q").condition("a").condition("b").condition("r")
            ),
        )
        .connect_condition("p", lambda to: to.task("P"))
        .connect_condition("q", lambda to: to.task("Q"))
        .connect_condition("a", lambda to: to.task("T1"))
        .connect_condition("b", lambda to: to.task("T2"))
        .connect_condition("r", lambda to: to.task("R"))
        .connect_task("P", lambda to: to.condition("end"))
        .connect_task("Q", lambda to: to.condition("end"))
        .connect_task("T1", lambda to: to.condition("c"))
        .connect_task("T2", lambda to: to.condition("c"))
        .connect_condition("c", lambda to: to.task("U"))
        .connect_condition("d", lambda to: to.task("U"))
        .connect_task("R", lambda to: to.condition("d"))
        .connect_task("U", lambda to: to.condition("end"))
        .with_cancellation_region(
            "R", lambda cr: cr.task("P").task("Q").condition("p").condition("q").condition("c")
        )
    )


def test_cancellation_region_clears_its_conditions_and_cancels_enabled_and_started_tasks(app):
    log: list[str] = []
    api = register(app, wide_region(log))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    finish(api, wid, "T1")
    finish(api, wid, "T2")
    p_item = current_item(api, wid, "P")
    q_item = current_item(api, wid, "Q")
    before = api.get_workflow_snapshot(wid)
    assert before.tasks["P"] == tq.TaskSnapshot("started", 1)
    assert before.tasks["Q"] == tq.TaskSnapshot("enabled", 1)
    assert (before.conditions["p"], before.conditions["q"], before.conditions["c"]) == (0, 1, 2)
    del log[:]

    finish(api, wid, "R")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "started"
    assert snapshot.tasks["P"] == tq.TaskSnapshot("canceled", 1)
    assert snapshot.tasks["Q"] == tq.TaskSnapshot("canceled", 1)  # enabled -> canceled
    assert (snapshot.conditions["p"], snapshot.conditions["q"], snapshot.conditions["c"]) == (
        0,
        0,
        0,
    )  # two tokens in c are cleared, not decremented
    assert snapshot.conditions["d"] == 1
    assert snapshot.tasks["U"] == tq.TaskSnapshot("disabled", 0)
    assert api.get_work_item_state(p_item.id) == "canceled"
    assert api.get_work_item_state(q_item.id) == "canceled"
    assert [e for e in log if e[0] in "PQ"] == [
        "P.item_canceled#1",
        "P.canceled#1",
        "Q.item_canceled#1",
        "Q.canceled#1",
    ]
    assert not any(".disabled#" in e for e in log)


def test_a_token_the_owner_produces_into_its_own_region_survives(app):
    log: list[str] = []
    wf = (
        Builder.workflow("own_region")
        .start_condition("start")
        .end_condition("end")
        .condition("ro")
        .condition("r")
        .condition("zr")
        .task("S", tracked_task(log))
        .task("R", tracked_task(log, auto_start=False))
        .task("Z", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task("S", lambda to: to.condition("ro").condition("r"))
        .connect_condition("r", lambda to: to.task("R"))
        .connect_task("R", lambda to: to.condition("ro").condition("zr"))
        .connect_condition("ro", lambda to: to.task("Z"))
        .connect_condition("zr", lambda to: to.task("Z"))
        .connect_task("Z", lambda to: to.condition("end"))
        .with_cancellation_region("R", lambda cr: cr.condition("ro"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    assert api.get_workflow_snapshot(wid).conditions["ro"] == 1
    finish(api, wid, "R")
    snapshot = api.get_workflow_snapshot(wid)
    # the old token is cleared, the one R produces afterwards stays
    assert snapshot.conditions["ro"] == 1
    assert snapshot.conditions["zr"] == 1
    assert snapshot.tasks["Z"] == tq.TaskSnapshot("enabled", 1)


# --- dummy tasks -----------------------------------------------------------------------------


def test_dummy_task_starts_and_completes_as_soon_as_it_is_enabled(app):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_mid")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .dummy_task("D", tracked_dummy(log))
        .task("B", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    del log[:]
    finish(api, wid, "A")
    assert log == [
        "A.completed#1",
        "D.enabled#1",
        "D.started#1",
        "D.completed#1",
        "B.enabled#1",
    ]
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["D"] == tq.TaskSnapshot("completed", 1)
    assert snapshot.conditions == {"start": 0, "end": 0, "A__to__D": 0, "D__to__B": 1}
    assert api.list_work_items(wid, task_name="D") == []


def test_dummy_first_workflow_fires_on_initialized_before_anything_else(app):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_first")
        .start_condition("start")
        .end_condition("end")
        .dummy_task("D", tracked_dummy(log))
        .task("A", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
        .with_activities(**workflow_activities(log))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert log == [
        "wf.initialized",
        "D.enabled#1",
        "wf.started",
        "D.started#1",
        "D.completed#1",
        "A.enabled#1",
    ]
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "started"
    assert snapshot.tasks["D"] == tq.TaskSnapshot("completed", 1)
    assert snapshot.tasks["A"] == tq.TaskSnapshot("enabled", 1)


def test_workflow_of_dummy_tasks_only_completes_inside_its_initialization(app):
    log: list[str] = []
    wf = (
        Builder.workflow("all_dummy")
        .start_condition("start")
        .end_condition("end")
        .dummy_task("D1", tracked_dummy(log))
        .dummy_task("D2", tracked_dummy(log))
        .connect_condition("start", lambda to: to.task("D1"))
        .connect_task("D1", lambda to: to.task("D2"))
        .connect_task("D2", lambda to: to.condition("end"))
        .with_activities(**workflow_activities(log))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert log == [
        "wf.initialized",
        "D1.enabled#1",
        "wf.started",
        "D1.started#1",
        "D1.completed#1",
        "D2.enabled#1",
        "D2.started#1",
        "D2.completed#1",
        "wf.completed",
    ]
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions == {"start": 0, "end": 1, "D1__to__D2": 0}


@pytest.mark.parametrize("taken", ["B", "C"])
def test_dummy_xor_split_and_xor_join_route_through_the_chosen_branch(app, taken):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_xor")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .dummy_task("D", tracked_dummy(log, split="xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .dummy_task("J", tracked_dummy(log, join="xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("B").task("C").route(chooser({"D": [taken]}, "xor")))
        .connect_task("B", lambda to: to.task("J"))
        .connect_task("C", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    other = "C" if taken == "B" else "B"
    states = task_states(api, wid)
    assert states["D"] == ("completed", 1)
    assert states[taken] == ("started", 1)
    assert states[other] == ("disabled", 0)
    finish(api, wid, taken)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["J"] == tq.TaskSnapshot("completed", 1)
    assert snapshot.conditions["end"] == 1


def test_dummy_or_split_and_or_join_route_through_the_chosen_branches(app):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_or")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .dummy_task("D", tracked_dummy(log, split="or"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("E", tracked_task(log))
        .dummy_task("J", tracked_dummy(log, join="or"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("D"))
        .connect_task(
            "D",
            lambda to: to.task("B").task("C").task("E").route(chooser({"D": ["B", "E"]}, "or")),
        )
        .connect_task("B", lambda to: to.task("J"))
        .connect_task("C", lambda to: to.task("J"))
        .connect_task("E", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert task_states(api, wid)["C"] == ("disabled", 0)
    finish(api, wid, "E")
    assert task_states(api, wid)["J"] == ("disabled", 0)  # B can still deliver
    finish(api, wid, "B")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["J"] == tq.TaskSnapshot("completed", 1)


# --- workflow completion ---------------------------------------------------------------------


def two_ways_out(log: list[str], *, b_auto: bool) -> Any:
    """start -> S (AND) -> {a, b}; a -> A -> end; b -> B -> end."""
    return (
        Builder.workflow("two_ways")
        .start_condition("start")
        .end_condition("end")
        .condition("a")
        .condition("b")
        .task("S", tracked_task(log))
        .task("A", tracked_task(log, auto_start=False))
        .task("B", tracked_task(log, auto_start=b_auto))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task("S", lambda to: to.condition("a").condition("b"))
        .connect_condition("a", lambda to: to.task("A"))
        .connect_condition("b", lambda to: to.task("B"))
        .connect_task("A", lambda to: to.condition("end"))
        .connect_task("B", lambda to: to.condition("end"))
        .with_activities(**workflow_activities(log))
    )


def test_workflow_completion_disables_enabled_tasks_and_leaves_their_tokens(app):
    log: list[str] = []
    api = register(app, two_ways_out(log, b_auto=False))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    b_item = current_item(api, wid, "B")
    del log[:]
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["B"] == tq.TaskSnapshot("disabled", 1)
    assert snapshot.conditions == {"start": 0, "end": 1, "a": 0, "b": 1}
    assert api.get_work_item_state(b_item.id) == "canceled"
    assert log == [
        "A.started#1",
        "A.completed#1",
        "B.item_canceled#1",
        "B.disabled#1",
        "wf.completed",
    ]


def test_workflow_completion_cancels_started_tasks_and_their_work_items(app):
    log: list[str] = []
    api = register(app, two_ways_out(log, b_auto=True))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    b_item = current_item(api, wid, "B")
    assert b_item.state == "started"
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["B"] == tq.TaskSnapshot("canceled", 1)
    assert api.get_work_item_state(b_item.id) == "canceled"
    assert log.index("B.canceled#1") < log.index("wf.completed")


def test_completion_that_reaches_the_end_enables_nothing(app):
    """§17.3: the workflow completes first; X, whose join the same completion satisfied, never
    gets on_enabled (the reference gives it on_enabled then on_disabled, §17.12)."""
    log: list[str] = []
    wf = (
        Builder.workflow("early_end")
        .start_condition("start")
        .end_condition("end")
        .condition("x")
        .task("A", tracked_task(log))
        .task("X", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end").condition("x"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_task("X", lambda to: to.condition("end"))
        .with_activities(**workflow_activities(log))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    del log[:]
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["X"] == tq.TaskSnapshot("disabled", 0)
    assert snapshot.conditions == {"start": 0, "end": 1, "x": 1}
    assert log == ["A.completed#1", "wf.completed"]
    assert api.list_work_items(wid, task_name="X") == []


def test_a_completed_workflow_refuses_new_work_and_changes_nothing(app):
    log: list[str] = []
    api = register(app, two_ways_out(log, b_auto=False))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    b_item = current_item(api, wid, "B")
    finish(api, wid, "A")
    before = api.get_workflow_snapshot(wid)
    with pytest.raises(tq.WorkItemInvalidStateError, match="canceled"):
        api.internal_start_work_item(b_item.id)
    with pytest.raises(tq.InvalidStateTransitionError, match="disabled"):
        api.internal_initialize_work_item(
            {"path": ["two_ways", "B", "item"], "parent_workflow_id": wid, "parent_task_name": "B"}
        )
    assert api.get_workflow_snapshot(wid) == before
