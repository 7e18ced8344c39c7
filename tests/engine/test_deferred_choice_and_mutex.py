"""Deferred choice, interleaved routing through a mutex condition, and XOR-join enabledness
following the marking (docs/semantics.md, sections 3 and 17.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.engine.flow_helpers import (
    current_item,
    finish,
    register,
    start,
    task_states,
    tracked_task,
)

# --- helpers ---------------------------------------------------------------------------------


def target(api: Any, wid: str, wf_name: str, task: str) -> dict[str, Any]:
    return {"path": [wf_name, task, "item"], "parent_workflow_id": wid, "parent_task_name": task}


# --- deferred choice -------------------------------------------------------------------------


def choice_of(log: list[str], branches: tuple[str, ...]) -> Any:
    wf = Builder.workflow("deferred").start_condition("start").end_condition("end")
    for name in branches:
        wf = wf.task(name, tracked_task(log, auto_start=False))
    wf = wf.connect_condition("start", lambda to: [to.task(n) for n in branches])
    for name in branches:
        wf = wf.connect_task(name, lambda to: to.condition("end"))
    return wf


def test_deferred_choice_offers_every_branch_until_one_starts(app):
    log: list[str] = []
    api = register(app, choice_of(log, ("t1", "t2")))
    wid = api.internal_initialize_root_workflow()
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "initialized"
    assert snapshot.conditions["start"] == 1
    assert task_states(api, wid) == {"t1": ("enabled", 1), "t2": ("enabled", 1)}
    assert [(w.task_name, w.state) for w in api.list_work_items(wid)] == [
        ("t1", "initialized"),
        ("t2", "initialized"),
    ]
    assert log == ["t1.enabled#1", "t2.enabled#1"]


def test_starting_a_work_item_of_one_branch_withdraws_the_other_branch(app):
    log: list[str] = []
    api = register(app, choice_of(log, ("t1", "t2")))
    wid = api.internal_initialize_root_workflow()
    loser_item = current_item(api, wid, "t2")
    del log[:]

    start(api, wid, "t1")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "started"
    assert snapshot.conditions["start"] == 0
    assert task_states(api, wid) == {"t1": ("started", 1), "t2": ("disabled", 1)}
    assert api.get_work_item_state(loser_item.id) == "canceled"
    # the loser's work items are torn down before its on_disabled runs
    assert log == ["t2.item_canceled#1", "t2.disabled#1", "t1.started#1"]

    finish(api, wid, "t1")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert task_states(api, wid) == {"t1": ("completed", 1), "t2": ("disabled", 1)}
    assert log.count("t2.disabled#1") == 1
    assert snapshot.conditions == {"start": 0, "end": 1}


def test_the_second_branch_can_win_the_choice_too(app):
    log: list[str] = []
    api = register(app, choice_of(log, ("t1", "t2", "t3")))
    wid = api.internal_initialize_root_workflow()
    del log[:]
    start(api, wid, "t3")
    assert task_states(api, wid) == {
        "t1": ("disabled", 1),
        "t2": ("disabled", 1),
        "t3": ("started", 1),
    }
    assert [e for e in log if ".disabled#" in e] == ["t1.disabled#1", "t2.disabled#1"]
    assert [(w.task_name, w.state) for w in api.list_work_items(wid)] == [
        ("t1", "canceled"),
        ("t2", "canceled"),
        ("t3", "started"),
    ]


def test_starting_a_withdrawn_branchs_work_item_is_refused_and_changes_nothing(app):
    log: list[str] = []
    api = register(app, choice_of(log, ("t1", "t2")))
    wid = api.internal_initialize_root_workflow()
    loser_item = current_item(api, wid, "t2")
    start(api, wid, "t1")
    before = api.get_workflow_snapshot(wid)
    with pytest.raises(tq.WorkItemInvalidStateError, match="canceled") as error:
        api.internal_start_work_item(loser_item.id)
    assert loser_item.id in str(error.value)
    assert api.get_workflow_snapshot(wid) == before


def test_a_new_work_item_for_a_withdrawn_branch_is_refused_and_changes_nothing(app):
    log: list[str] = []
    api = register(app, choice_of(log, ("t1", "t2")))
    wid = api.internal_initialize_root_workflow()
    start(api, wid, "t1")
    before = api.get_workflow_snapshot(wid)
    with pytest.raises(tq.InvalidStateTransitionError, match="disabled"):
        api.internal_initialize_work_item(target(api, wid, "deferred", "t2"))
    assert api.get_workflow_snapshot(wid) == before


# --- interleaved routing with a mutex condition ----------------------------------------------


def interleaved(log: list[str], names: tuple[str, ...]) -> Any:
    """start -> S (AND) -> {p_X for each X, mutex}; p_X, mutex -> X -> d_X, mutex;
    every d_X and mutex -> F -> end. The mutex lets one X run at a time."""
    wf = (
        Builder.workflow("mutex")
        .start_condition("start")
        .end_condition("end")
        .condition("mutex")
        .task("S", tracked_task(log))
    )
    for name in names:
        wf = wf.condition(f"p_{name}").condition(f"d_{name}")
        wf = wf.task(name, tracked_task(log, auto_start=False))
    wf = wf.task("F", tracked_task(log))
    wf = wf.connect_condition("start", lambda to: to.task("S"))
    wf = wf.connect_task(
        "S", lambda to: [to.condition(f"p_{n}") for n in names] and to.condition("mutex")
    )
    for name in names:
        wf = wf.connect_condition(f"p_{name}", lambda to, n=name: to.task(n))
    wf = wf.connect_condition("mutex", lambda to: [to.task(n) for n in (*names, "F")])
    for name in names:
        wf = wf.connect_task(name, lambda to, n=name: to.condition(f"d_{n}").condition("mutex"))
        wf = wf.connect_condition(f"d_{name}", lambda to: to.task("F"))
    return wf.connect_task("F", lambda to: to.condition("end"))


def started_tasks(api: Any, wid: str) -> list[str]:
    return [n for n, (state, _) in task_states(api, wid).items() if state == "started"]


def test_tasks_sharing_a_mutex_run_one_at_a_time(app):
    log: list[str] = []
    api = register(app, interleaved(log, ("A", "B")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["mutex"] == 1
    assert task_states(api, wid)["A"] == ("enabled", 1)
    assert task_states(api, wid)["B"] == ("enabled", 1)
    b_first = current_item(api, wid, "B")

    start(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["mutex"] == 0
    assert snapshot.conditions["p_A"] == 0
    assert snapshot.conditions["p_B"] == 1  # B keeps its own token, waiting for the mutex
    assert started_tasks(api, wid) == ["A"]
    assert task_states(api, wid)["B"] == ("disabled", 1)
    assert api.get_work_item_state(b_first.id) == "canceled"

    finish(api, wid, "A")  # puts the mutex back: B is offered again, in a new generation
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["mutex"] == 1
    assert snapshot.conditions["d_A"] == 1
    assert task_states(api, wid)["B"] == ("enabled", 2)
    assert task_states(api, wid)["A"] == ("completed", 1)
    assert task_states(api, wid)["F"] == ("disabled", 0)

    start(api, wid, "B")
    assert started_tasks(api, wid) == ["B"]
    finish(api, wid, "B")
    assert started_tasks(api, wid) == ["F"]
    finish(api, wid, "F")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions == {
        "start": 0,
        "end": 1,
        "mutex": 0,
        "p_A": 0,
        "d_A": 0,
        "p_B": 0,
        "d_B": 0,
    }
    assert [(w.generation, w.state) for w in api.list_work_items(wid, task_name="B")] == [
        (1, "canceled"),
        (2, "completed"),
    ]
    assert [e for e in log if e.startswith("B.")] == [
        "B.enabled#1",
        "B.item_canceled#1",
        "B.disabled#1",
        "B.enabled#2",
        "B.started#2",
        "B.completed#2",
    ]


def test_three_tasks_sharing_a_mutex_in_any_order(app):
    log: list[str] = []
    api = register(app, interleaved(log, ("A", "B", "C")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    for task in ("C", "A", "B"):
        start(api, wid, task)
        assert started_tasks(api, wid) == [task]
        assert api.get_workflow_snapshot(wid).conditions["mutex"] == 0
        finish(api, wid, task)
        assert started_tasks(api, wid) == ([] if task != "B" else ["F"])
    finish(api, wid, "F")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert {n: snapshot.tasks[n].generation for n in ("A", "B", "C")} == {"A": 2, "B": 3, "C": 1}
    assert log.count("A.disabled#1") == 1
    assert [e for e in log if e.startswith("B.disabled")] == ["B.disabled#1", "B.disabled#2"]
    assert not any(e.startswith("C.disabled") for e in log)


def test_a_task_waiting_for_the_mutex_cannot_be_forced_to_run(app):
    log: list[str] = []
    api = register(app, interleaved(log, ("A", "B")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    b_item = current_item(api, wid, "B")
    start(api, wid, "A")
    before = api.get_workflow_snapshot(wid)
    with pytest.raises(tq.WorkItemInvalidStateError, match="canceled"):
        api.internal_start_work_item(b_item.id)
    with pytest.raises(tq.InvalidStateTransitionError, match="disabled"):
        api.internal_initialize_work_item(target(api, wid, "mutex", "B"))
    assert api.get_workflow_snapshot(wid) == before
    assert started_tasks(api, wid) == ["A"]


# --- XOR-join enabledness follows the marking (§17.3) ----------------------------------------


def xor_join(log: list[str], *, c2_first: bool = False, with_region: bool = False) -> Any:
    """start -> A (AND) -> {c1, c2 (, r)}; c1, c2 -> X (XOR join); c2 -> Y; X -> xo -> W -> end;
    Y -> end; R (on r) has the region {c1} and flows into xo."""
    wf = (
        Builder.workflow("xor_join")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .condition("c2")
        .condition("r")
        .condition("xo")
        .task("A", tracked_task(log))
        .task("X", tracked_task(log, join="xor", auto_start=False))
        .task("Y", tracked_task(log, auto_start=False))
        .task("R", tracked_task(log, auto_start=False))
        .task("W", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("c2").condition("r"))
    )
    if c2_first:
        wf = wf.connect_condition("c2", lambda to: to.task("X").task("Y"))
        wf = wf.connect_condition("c1", lambda to: to.task("X"))
    else:
        wf = wf.connect_condition("c1", lambda to: to.task("X"))
        wf = wf.connect_condition("c2", lambda to: to.task("X").task("Y"))
    return (
        wf.connect_condition("r", lambda to: to.task("R"))
        .connect_task("X", lambda to: to.condition("xo"))
        .connect_task("R", lambda to: to.condition("xo"))
        .connect_condition("xo", lambda to: to.task("W"))
        .connect_task("W", lambda to: to.condition("end"))
        .connect_task("Y", lambda to: to.condition("end"))
        .with_cancellation_region("R", lambda cr: cr.condition("c1"))
    )


def test_xor_join_stays_enabled_while_another_input_is_marked(app):
    """The reference disables X here although c1 still holds a token (§17.3)."""
    log: list[str] = []
    api = register(app, xor_join(log))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert task_states(api, wid)["X"] == ("enabled", 1)
    x_item = current_item(api, wid, "X")

    start(api, wid, "Y")  # takes c2's only token
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c1"] == 1
    assert snapshot.conditions["c2"] == 0
    assert snapshot.tasks["X"] == tq.TaskSnapshot("enabled", 1)
    assert api.get_work_item_state(x_item.id) == "initialized"
    assert not any(e.startswith("X.disabled") for e in log)

    start(api, wid, "X")  # the remaining input still lets X run
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c1"] == 0
    assert snapshot.tasks["X"] == tq.TaskSnapshot("started", 1)


def test_xor_join_stays_enabled_when_a_region_clears_one_of_its_inputs(app):
    log: list[str] = []
    api = register(app, xor_join(log, with_region=True))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "R")  # clears c1
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c1"] == 0
    assert snapshot.conditions["c2"] == 1
    assert snapshot.tasks["X"] == tq.TaskSnapshot("enabled", 1)
    assert not any(e.startswith("X.disabled") for e in log)


def test_xor_join_consumes_one_token_from_the_first_marked_input_and_leaves_the_others(app):
    log: list[str] = []
    api = register(app, xor_join(log))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    start(api, wid, "X")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c1"] == 0  # c1 is first in X's preset
    assert snapshot.conditions["c2"] == 1
    assert snapshot.tasks["Y"] == tq.TaskSnapshot("enabled", 1)  # c2 still offers Y
    assert not any(e.startswith("Y.disabled") for e in log)


def test_xor_join_preset_order_is_the_order_the_arcs_were_declared(app):
    log: list[str] = []
    api = register(app, xor_join(log, c2_first=True))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    y_item = current_item(api, wid, "Y")
    start(api, wid, "X")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c2"] == 0  # c2 was connected to X first
    assert snapshot.conditions["c1"] == 1
    assert snapshot.tasks["Y"] == tq.TaskSnapshot("disabled", 1)  # Y lost its only input
    assert api.get_work_item_state(y_item.id) == "canceled"


def test_xor_join_is_enabled_again_after_completing_while_another_input_holds_a_token(app):
    log: list[str] = []
    api = register(app, xor_join(log))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "X")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c2"] == 1
    assert snapshot.conditions["xo"] == 1
    assert snapshot.tasks["X"] == tq.TaskSnapshot("enabled", 2)
    assert snapshot.tasks["W"] == tq.TaskSnapshot("enabled", 1)
    assert [e for e in log if e.startswith("X.")] == [
        "X.enabled#1",
        "X.started#1",
        "X.completed#1",
        "X.enabled#2",
    ]
    assert [(w.generation, w.state) for w in api.list_work_items(wid, task_name="X")] == [
        (1, "completed"),
        (2, "initialized"),
    ]

    start(api, wid, "X")  # generation 2 takes the c2 token: Y is withdrawn
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["c2"] == 0
    assert snapshot.tasks["Y"] == tq.TaskSnapshot("disabled", 1)
    finish(api, wid, "X")
    assert api.get_workflow_snapshot(wid).conditions["xo"] == 2


@pytest.mark.parametrize("connect_c1_first", [True, False])
def test_preset_order_mixes_explicit_and_implicit_conditions_in_declaration_order(
    app, connect_c1_first
):
    """X's inputs: explicit c1 and implicit S__to__X; whichever arc was declared first is
    consumed first (§17.3), not implicit-before-explicit as in the reference."""
    log: list[str] = []
    wf = (
        Builder.workflow("preset_order")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("S", tracked_task(log))
        .task("X", tracked_task(log, join="xor", auto_start=False))
        .connect_condition("start", lambda to: to.task("S"))
    )
    c1_arc = ("c1", lambda to: to.task("X"))
    s_arcs = ("S", lambda to: to.task("X").condition("c1"))
    if connect_c1_first:
        wf = wf.connect_condition(*c1_arc).connect_task(*s_arcs)
    else:
        wf = wf.connect_task(*s_arcs).connect_condition(*c1_arc)
    wf = wf.connect_task("X", lambda to: to.condition("end"))
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    assert api.get_workflow_snapshot(wid).conditions == {
        "start": 0,
        "end": 0,
        "c1": 1,
        "S__to__X": 1,
    }
    start(api, wid, "X")
    conditions = api.get_workflow_snapshot(wid).conditions
    if connect_c1_first:
        assert (conditions["c1"], conditions["S__to__X"]) == (0, 1)
    else:
        assert (conditions["c1"], conditions["S__to__X"]) == (1, 0)


def test_a_dummy_task_withdrawn_from_a_deferred_choice_fires_on_disabled(app):
    """§17.9. A dummy task starts as soon as it is enabled, so the only way to withdraw it is
    for its own on_enabled to start the competing branch (an API call inside the activity's
    transaction, `ctx=ctx`): the dummy then loses the token, is disabled, and must not start."""
    log: list[str] = []
    holder: dict[str, Any] = {}

    def t1_enabled(ctx: Any) -> None:
        log.append(f"t1.enabled#{ctx.task.generation}")
        holder["t1_item"] = ctx.work_item.initialize()

    def d_enabled(ctx: Any) -> None:
        log.append(f"d.enabled#{ctx.task.generation}")
        holder["api"].internal_start_work_item(holder["t1_item"], ctx=ctx)

    def record(event: str) -> Callable[[Any], None]:
        def activity(ctx: Any) -> None:
            log.append(f"{ctx.task.name}.{event}#{ctx.task.generation}")

        return activity

    wf = (
        Builder.workflow("dummy_choice")
        .start_condition("start")
        .end_condition("end")
        .task("t1", Builder.task(Builder.work_item("item")).with_activities(on_enabled=t1_enabled))
        .dummy_task(
            "d",
            Builder.dummy_task().with_activities(
                on_enabled=d_enabled,
                on_started=record("started"),
                on_completed=record("completed"),
                on_disabled=record("disabled"),
            ),
        )
        .connect_condition("start", lambda to: to.task("t1").task("d"))
        .connect_task("t1", lambda to: to.condition("end"))
        .connect_task("d", lambda to: to.condition("end"))
    )
    api = holder["api"] = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert log == ["t1.enabled#1", "d.enabled#1", "d.disabled#1"]
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "started"
    assert snapshot.tasks["t1"] == tq.TaskSnapshot("started", 1)
    assert snapshot.tasks["d"] == tq.TaskSnapshot("disabled", 1)
    assert snapshot.conditions == {"start": 0, "end": 0}


@pytest.mark.parametrize("auto_first", [True, False])
def test_a_branch_whose_work_item_starts_itself_wins_the_choice_during_enabling(app, auto_first):
    """Tasks are brought in line in definition order (§17.3). A branch that starts itself takes
    the token as soon as it is enabled: a branch after it is never offered, a branch before it
    is offered and withdrawn in the same call."""
    log: list[str] = []
    auto = tracked_task(log)
    manual = tracked_task(log, auto_start=False)
    names = ("auto", "manual") if auto_first else ("manual", "auto")
    wf = Builder.workflow("self_start").start_condition("start").end_condition("end")
    for name in names:
        wf = wf.task(name, auto if name == "auto" else manual)
    wf = wf.connect_condition("start", lambda to: [to.task(n) for n in names])
    for name in names:
        wf = wf.connect_task(name, lambda to: to.condition("end"))
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    states = task_states(api, wid)
    assert states["auto"] == ("started", 1)
    if auto_first:
        assert states["manual"] == ("disabled", 0)
        assert not any(e.startswith("manual.") for e in log)
    else:
        assert states["manual"] == ("disabled", 1)
        assert [e for e in log if e.startswith("manual.")] == [
            "manual.enabled#1",
            "manual.item_canceled#1",
            "manual.disabled#1",
        ]
    assert api.get_workflow_snapshot(wid).conditions == {"start": 0, "end": 0}
