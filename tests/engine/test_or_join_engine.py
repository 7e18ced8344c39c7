"""The OR-join end to end (docs/semantics.md, sections 4, 17.3 and 17.5): it waits while a
routed branch can still deliver, fires when the last one does or when a path dies elsewhere, is
re-evaluated after every marking change, and is not fooled by cancellation regions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tasquencer.net import or_join
from tests.engine.flow_helpers import chooser, current_item, finish, register, start, tracked_task

# --- helpers ---------------------------------------------------------------------------------


def snapshot_of(api: Any, wid: str) -> Any:
    return api.get_workflow_snapshot(wid)


# --- waiting and firing ----------------------------------------------------------------------


def two_branches(log: list[str], choice: dict[str, list[str]]) -> Any:
    """start -> A (OR) -> {B, C}; B -> J; C -> C2 -> J; J (OR join) -> end."""
    return (
        Builder.workflow("or_wait")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log, split="or"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("C2", tracked_task(log))
        .task("J", tracked_task(log, join="or", auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C").route(chooser(choice, "or")))
        .connect_task("B", lambda to: to.task("J"))
        .connect_task("C", lambda to: to.task("C2"))
        .connect_task("C2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )


def test_or_join_waits_while_a_routed_branch_can_still_deliver(app):
    log: list[str] = []
    api = register(app, two_branches(log, {"A": ["B", "C"]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "B")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["B__to__J"] == 1
    assert snapshot.tasks["J"].state == "disabled"
    assert snapshot.tasks["C"].state == "started"

    finish(api, wid, "C")  # the branch moves on, still able to deliver
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["C2"].state == "started"
    assert snapshot.tasks["J"].state == "disabled"
    assert snapshot.tasks["J"].generation == 0
    assert not any(e.startswith("J.") for e in log)


def test_or_join_analysis_is_built_at_register_not_in_a_call(app, monkeypatch):
    built: list[str] = []
    build = or_join._OrJoinAnalysis.__init__

    def counting(self: Any, net: Any, join: str) -> None:
        built.append(join)
        build(self, net, join)

    monkeypatch.setattr(or_join._OrJoinAnalysis, "__init__", counting)
    log: list[str] = []
    api = register(app, two_branches(log, {"A": ["B", "C"]}))
    assert built == ["J"]
    wid = api.internal_initialize_root_workflow()
    for task in ("A", "B", "C"):
        finish(api, wid, task)
    assert snapshot_of(api, wid).tasks["J"].state == "disabled"  # decided, while C2 can deliver
    assert built == ["J"]


def test_or_join_fires_when_the_last_pending_branch_completes(app):
    log: list[str] = []
    api = register(app, two_branches(log, {"A": ["B", "C"]}))
    wid = api.internal_initialize_root_workflow()
    for task in ("A", "C", "B", "C2"):
        finish(api, wid, task)
        if task != "C2":
            assert snapshot_of(api, wid).tasks["J"].state == "disabled"
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 1
    assert snapshot.conditions["B__to__J"] == 1
    assert snapshot.conditions["C2__to__J"] == 1
    assert log[-1] == "J.enabled#1"

    start(api, wid, "J")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["B__to__J"] == 0
    assert snapshot.conditions["C2__to__J"] == 0
    finish(api, wid, "J")
    assert snapshot_of(api, wid).state == "completed"
    assert log.count("J.enabled#1") == 1


def test_or_join_does_not_wait_for_a_branch_that_was_not_routed(app):
    log: list[str] = []
    api = register(app, two_branches(log, {"A": ["B"]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert snapshot_of(api, wid).tasks["J"].state == "disabled"
    finish(api, wid, "B")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["C"].generation == 0
    assert snapshot.tasks["C2"].generation == 0


# --- a path dies away from the OR-join's inputs ----------------------------------------------


def dying_path(log: list[str], choice: dict[str, list[str]]) -> Any:
    """start -> A (AND) -> {c1, x}; x -> X (XOR) -> {y, z}; y -> Y -> c2; z -> Z -> end;
    c1, c2 -> J (OR join) -> end."""
    return (
        Builder.workflow("or_dying")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .condition("c2")
        .condition("x")
        .condition("y")
        .condition("z")
        .task("A", tracked_task(log))
        .task("X", tracked_task(log, split="xor"))
        .task("Y", tracked_task(log))
        .task("Z", tracked_task(log, auto_start=False))
        .task("J", tracked_task(log, join="or", auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("x"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_task(
            "X", lambda to: to.condition("y").condition("z").route(chooser(choice, "xor"))
        )
        .connect_condition("y", lambda to: to.task("Y"))
        .connect_condition("z", lambda to: to.task("Z"))
        .connect_task("Y", lambda to: to.condition("c2"))
        .connect_task("Z", lambda to: to.condition("end"))
        .connect_condition("c1", lambda to: to.task("J"))
        .connect_condition("c2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )


def test_or_join_fires_when_an_upstream_xor_routes_away_from_its_empty_input(app):
    """The reference deadlocks here (§17.6): nothing next to J changes when X routes to z."""
    log: list[str] = []
    api = register(app, dying_path(log, {"X": ["cond:z"]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["c1"] == 1
    assert snapshot.tasks["X"].state == "started"
    assert snapshot.tasks["J"].state == "disabled"  # X may still route to y -> Y -> c2

    finish(api, wid, "X")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions == {
        "start": 0,
        "end": 0,
        "c1": 1,
        "c2": 0,
        "x": 0,
        "y": 0,
        "z": 1,
    }
    assert snapshot.tasks["Y"].generation == 0
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 1
    assert snapshot.tasks["Z"].state == "enabled"

    finish(api, wid, "J")
    snapshot = snapshot_of(api, wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["Z"].state == "disabled"
    assert snapshot.conditions["z"] == 1  # completion leaves tokens where they are


def test_or_join_waits_for_the_branch_an_upstream_xor_routes_towards_it(app):
    log: list[str] = []
    api = register(app, dying_path(log, {"X": ["cond:y"]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "X")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["Y"].state == "started"
    assert snapshot.tasks["J"].state == "disabled"
    finish(api, wid, "Y")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.conditions["c1"] == 1
    assert snapshot.conditions["c2"] == 1
    start(api, wid, "J")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["c1"] == 0
    assert snapshot.conditions["c2"] == 0


# --- OR-join and cancellation regions --------------------------------------------------------


def region_elsewhere(log: list[str], *, x_auto: bool) -> Any:
    """start -> A (AND) -> {c1, x}; x -> X -> c2; c1, c2 -> J (OR) -> z; z -> K -> end.
    X's region is {z}, a condition that is empty while J waits."""
    return (
        Builder.workflow("or_region_elsewhere")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .condition("c2")
        .condition("x")
        .condition("z")
        .task("A", tracked_task(log))
        .task("X", tracked_task(log, auto_start=x_auto))
        .task("J", tracked_task(log, join="or", auto_start=False))
        .task("K", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("x"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_task("X", lambda to: to.condition("c2"))
        .connect_condition("c1", lambda to: to.task("J"))
        .connect_condition("c2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("z"))
        .connect_condition("z", lambda to: to.task("K"))
        .connect_task("K", lambda to: to.condition("end"))
        .with_cancellation_region("X", lambda cr: cr.condition("z"))
    )


@pytest.mark.parametrize("x_auto", [True, False], ids=["X-started", "X-enabled"])
def test_or_join_does_not_fire_early_because_a_pending_branch_has_a_region(app, x_auto):
    """The reference fires J at once here (§17.5)."""
    log: list[str] = []
    api = register(app, region_elsewhere(log, x_auto=x_auto))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["X"].state == ("started" if x_auto else "enabled")
    assert snapshot.conditions["c1"] == 1
    assert snapshot.tasks["J"].state == "disabled"
    assert snapshot.tasks["J"].generation == 0

    finish(api, wid, "X")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 1
    assert snapshot.conditions["c1"] == 1
    assert snapshot.conditions["c2"] == 1
    finish(api, wid, "J")
    finish(api, wid, "K")
    assert snapshot_of(api, wid).state == "completed"


def region_on_branch(log: list[str], *, x_auto: bool, region: Callable[[Any], Any]) -> Any:
    """start -> A (AND) -> {c1, x, w}; x -> X -> c2; w -> W -> wo; c1, c2 -> J (OR) -> jo;
    jo, wo -> K (AND) -> end. W's region removes X's branch."""
    return (
        Builder.workflow("or_region_branch")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .condition("c2")
        .condition("x")
        .condition("w")
        .condition("wo")
        .condition("jo")
        .task("A", tracked_task(log))
        .task("X", tracked_task(log, auto_start=x_auto))
        .task("W", tracked_task(log, auto_start=False))
        .task("J", tracked_task(log, join="or", auto_start=False))
        .task("K", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").condition("x").condition("w"))
        .connect_condition("x", lambda to: to.task("X"))
        .connect_condition("w", lambda to: to.task("W"))
        .connect_task("X", lambda to: to.condition("c2"))
        .connect_task("W", lambda to: to.condition("wo"))
        .connect_condition("c1", lambda to: to.task("J"))
        .connect_condition("c2", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("jo"))
        .connect_condition("jo", lambda to: to.task("K"))
        .connect_condition("wo", lambda to: to.task("K"))
        .connect_task("K", lambda to: to.condition("end"))
        .with_cancellation_region("W", region)
    )


@pytest.mark.parametrize("x_auto", [True, False], ids=["X-started", "X-enabled"])
def test_or_join_fires_when_a_region_cancels_the_pending_branch(app, x_auto):
    log: list[str] = []
    api = register(
        app, region_on_branch(log, x_auto=x_auto, region=lambda cr: cr.task("X").condition("x"))
    )
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert snapshot_of(api, wid).tasks["J"].state == "disabled"
    x_item = current_item(api, wid, "X")

    finish(api, wid, "W")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["X"].state == "canceled"
    assert snapshot.tasks["X"].generation == 1
    assert snapshot.conditions["x"] == 0
    assert api.get_work_item_state(x_item.id) == "canceled"
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 1
    assert log.index("X.canceled#1") < log.index("J.enabled#1")

    finish(api, wid, "J")
    finish(api, wid, "K")
    snapshot = snapshot_of(api, wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["X"].state == "canceled"


def test_or_join_fires_when_a_region_empties_the_input_of_an_enabled_branch(app):
    log: list[str] = []
    api = register(app, region_on_branch(log, x_auto=False, region=lambda cr: cr.condition("x")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert snapshot_of(api, wid).tasks["J"].state == "disabled"
    finish(api, wid, "W")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["X"].state == "disabled"  # not in the region: its join no longer holds
    assert "X.disabled#1" in log
    assert snapshot.tasks["J"].state == "enabled"


def test_or_join_keeps_waiting_when_a_region_cancels_a_branch_whose_input_is_still_marked(app):
    """X is cancelled but x still holds its token: X is enabled again at once (§17.3), so it
    can still deliver and J keeps waiting."""
    log: list[str] = []
    api = register(app, region_on_branch(log, x_auto=False, region=lambda cr: cr.task("X")))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "W")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["X"].state == "enabled"
    assert snapshot.tasks["X"].generation == 2
    assert snapshot.tasks["J"].state == "disabled"
    finish(api, wid, "X")
    assert snapshot_of(api, wid).tasks["J"].state == "enabled"


# --- re-evaluation disables as well ----------------------------------------------------------


def two_tokens(log: list[str]) -> Any:
    """start -> S (AND) -> {a, b}; a -> P1 -> p; b -> P2 -> p; p -> T -> q; p, q -> J (OR)."""
    return (
        Builder.workflow("or_two_tokens")
        .start_condition("start")
        .end_condition("end")
        .condition("a")
        .condition("b")
        .condition("p")
        .condition("q")
        .task("S", tracked_task(log))
        .task("P1", tracked_task(log))
        .task("P2", tracked_task(log))
        .task("T", tracked_task(log, auto_start=False))
        .task("J", tracked_task(log, join="or", auto_start=False))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task("S", lambda to: to.condition("a").condition("b"))
        .connect_condition("a", lambda to: to.task("P1"))
        .connect_condition("b", lambda to: to.task("P2"))
        .connect_task("P1", lambda to: to.condition("p"))
        .connect_task("P2", lambda to: to.condition("p"))
        .connect_condition("p", lambda to: to.task("J").task("T"))
        .connect_task("T", lambda to: to.condition("q"))
        .connect_condition("q", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )


def test_or_join_is_disabled_when_an_input_drops_and_a_token_can_arrive_again(app):
    log: list[str] = []
    api = register(app, two_tokens(log))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    finish(api, wid, "P1")
    snapshot = snapshot_of(api, wid)
    # p = 1 and P2 can still add a token to p while T turns the other into q: J waits
    assert snapshot.conditions["p"] == 1
    assert snapshot.tasks["T"].state == "enabled"
    assert snapshot.tasks["J"].state == "disabled"

    finish(api, wid, "P2")
    snapshot = snapshot_of(api, wid)
    # p = 2: no reachable state keeps p at 2 and marks q, so J may go
    assert snapshot.conditions["p"] == 2
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 1
    j_item = current_item(api, wid, "J")

    start(api, wid, "T")
    snapshot = snapshot_of(api, wid)
    # p = 1 and T (started) will mark q: J must wait again
    assert snapshot.conditions["p"] == 1
    assert snapshot.tasks["J"].state == "disabled"
    assert "J.disabled#1" in log
    assert api.get_work_item_state(j_item.id) == "canceled"

    finish(api, wid, "T")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["p"] == 1
    assert snapshot.conditions["q"] == 1
    assert snapshot.tasks["J"].state == "enabled"
    assert snapshot.tasks["J"].generation == 2
    assert snapshot.tasks["T"].state == "enabled"  # p still holds a token
    assert snapshot.tasks["T"].generation == 2


# --- OR-join in a loop -----------------------------------------------------------------------


def or_loop(log: list[str], b_routes: list[list[str]], j_routes: list[str]) -> Any:
    """start -> A -> c1; c1 -> B (OR) -> {C, D} -> J (OR join, XOR split) -> c1 | end."""

    def route_b(ctx: Any) -> Any:
        return [ctx.route.to_task(t) for t in b_routes[ctx.task.generation - 1]]

    def route_j(ctx: Any) -> Any:
        return ctx.route.to_condition(j_routes[ctx.task.generation - 1])

    return (
        Builder.workflow("or_loop")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log))
        .task("B", tracked_task(log, split="or"))
        .task("C", tracked_task(log))
        .task("D", tracked_task(log))
        .task("J", tracked_task(log, join="or", split="xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.task("C").task("D").route(route_b))
        .connect_task("C", lambda to: to.task("J"))
        .connect_task("D", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("c1").condition("end").route(route_j))
    )


def test_or_join_in_a_loop_waits_for_each_iterations_own_branches(app):
    log: list[str] = []
    api = register(app, or_loop(log, [["C", "D"], ["D"], ["C"]], ["c1", "c1", "end"]))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")

    # iteration 1: both branches
    finish(api, wid, "B")
    finish(api, wid, "C")
    assert snapshot_of(api, wid).tasks["J"].state == "disabled"
    finish(api, wid, "D")
    assert snapshot_of(api, wid).tasks["J"] == tq.TaskSnapshot("started", 1)
    finish(api, wid, "J")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["B"] == tq.TaskSnapshot("started", 2)
    assert snapshot.tasks["J"] == tq.TaskSnapshot("completed", 1)

    # iteration 2: only D; C's old completion does not count, its absence does not block
    finish(api, wid, "B")
    snapshot = snapshot_of(api, wid)
    assert snapshot.tasks["C"] == tq.TaskSnapshot("completed", 1)
    assert snapshot.tasks["D"] == tq.TaskSnapshot("started", 2)
    assert snapshot.tasks["J"].state == "completed"
    finish(api, wid, "D")
    assert snapshot_of(api, wid).tasks["J"] == tq.TaskSnapshot("started", 2)
    finish(api, wid, "J")

    # iteration 3: only C
    finish(api, wid, "B")
    finish(api, wid, "C")
    assert snapshot_of(api, wid).tasks["J"] == tq.TaskSnapshot("started", 3)
    finish(api, wid, "J")

    snapshot = snapshot_of(api, wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions["end"] == 1
    assert snapshot.conditions["c1"] == 0
    assert [e for e in log if e.startswith("J.enabled")] == [
        "J.enabled#1",
        "J.enabled#2",
        "J.enabled#3",
    ]
    assert [(w.generation, w.state) for w in api.list_work_items(wid, task_name="J")] == [
        (1, "completed"),
        (2, "completed"),
        (3, "completed"),
    ]
    assert [w.generation for w in api.list_work_items(wid, task_name="C")] == [1, 2]
    assert [w.generation for w in api.list_work_items(wid, task_name="D")] == [1, 2]


# --- the single-instance example of §17.5 ----------------------------------------------------


def pinning(log: list[str], c_join: str = "and") -> Any:
    """start -> A -> c1; c1 -> B -> c2; c2 -> {C, E}; C -> c3; c3 -> {D, E};
    D (AND split) -> {c1, c2}; E (OR join) -> end; C's region = {B, c1, c2}."""
    return (
        Builder.workflow("or_pinning")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .condition("c2")
        .condition("c3")
        .task("A", tracked_task(log, auto_start=False))
        .task("B", tracked_task(log, auto_start=False))
        .task("C", tracked_task(log, join=c_join, auto_start=False))
        .task("D", tracked_task(log, auto_start=False))
        .task("E", tracked_task(log, join="or", auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("c2"))
        .connect_condition("c2", lambda to: to.task("C").task("E"))
        .connect_task("C", lambda to: to.condition("c3"))
        .connect_condition("c3", lambda to: to.task("D").task("E"))
        .connect_task("D", lambda to: to.condition("c1").condition("c2"))
        .connect_task("E", lambda to: to.condition("end"))
        .with_cancellation_region("C", lambda cr: cr.task("B").condition("c1").condition("c2"))
    )


@pytest.mark.parametrize("c_join", ["and", "xor"])
def test_or_join_counts_on_a_task_never_running_twice_at_once(app, c_join):
    """§17.5's example, driven to "c1 and c2 marked, nothing started": E is enabled, because
    marking c2 and c3 together would take a second C running next to the first. C has one
    input, so an XOR-join there behaves the same in the engine; the OR-join analysis must keep
    an XOR-join task single-instance too."""
    log: list[str] = []
    api = register(app, pinning(log, c_join))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "B")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["c2"] == 1
    assert snapshot.tasks["C"] == tq.TaskSnapshot("enabled", 1)
    assert snapshot.tasks["E"] == tq.TaskSnapshot("enabled", 1)

    start(api, wid, "C")  # deferred choice: C wins c2, E is withdrawn
    assert snapshot_of(api, wid).tasks["E"] == tq.TaskSnapshot("disabled", 1)
    finish(api, wid, "C")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["c3"] == 1
    assert snapshot.tasks["D"] == tq.TaskSnapshot("enabled", 1)
    assert snapshot.tasks["E"] == tq.TaskSnapshot("enabled", 2)

    start(api, wid, "D")
    assert snapshot_of(api, wid).tasks["E"] == tq.TaskSnapshot("disabled", 2)
    finish(api, wid, "D")

    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions == {"start": 0, "end": 0, "c1": 1, "c2": 1, "c3": 0}
    assert {name: (t.state, t.generation) for name, t in snapshot.tasks.items()} == {
        "A": ("completed", 1),
        "B": ("enabled", 2),
        "C": ("enabled", 2),
        "D": ("completed", 1),
        "E": ("enabled", 3),
    }
    assert not any(t.state == "started" for t in snapshot.tasks.values())

    start(api, wid, "E")
    snapshot = snapshot_of(api, wid)
    assert snapshot.conditions["c2"] == 0
    assert snapshot.tasks["C"] == tq.TaskSnapshot("disabled", 2)
    finish(api, wid, "E")
    snapshot = snapshot_of(api, wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["B"] == tq.TaskSnapshot("disabled", 2)
    assert snapshot.conditions["c1"] == 1
