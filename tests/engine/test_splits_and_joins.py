"""AND, XOR and OR splits and joins, route validation and the router's context, driven through
the public API (docs/semantics.md, sections 3, 4, 17.3, 17.5 and 17.8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.engine.flow_helpers import (
    chooser,
    current_item,
    enabled_events,
    finish,
    register,
    task_states,
    tracked_task,
)

# --- helpers ---------------------------------------------------------------------------------


# --- AND split / AND join --------------------------------------------------------------------


def and_split_join(log: list[str]) -> Any:
    return (
        Builder.workflow("and_net")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("D", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C"))
        .connect_task("B", lambda to: to.task("D"))
        .connect_task("C", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.condition("end"))
    )


def test_and_split_enables_every_branch_and_and_join_waits_for_all(app):
    log: list[str] = []
    api = register(app, and_split_join(log))
    wid = api.internal_initialize_root_workflow()
    assert task_states(api, wid) == {
        "A": ("started", 1),
        "B": ("disabled", 0),
        "C": ("disabled", 0),
        "D": ("disabled", 0),
    }

    finish(api, wid, "A")
    assert task_states(api, wid) == {
        "A": ("completed", 1),
        "B": ("started", 1),
        "C": ("started", 1),
        "D": ("disabled", 0),
    }
    assert enabled_events(log) == ["A.enabled#1", "B.enabled#1", "C.enabled#1"]

    finish(api, wid, "B")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["D"].state == "disabled"
    assert snapshot.conditions["B__to__D"] == 1
    assert snapshot.conditions["C__to__D"] == 0

    finish(api, wid, "C")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["D"].state == "started"
    assert snapshot.tasks["D"].generation == 1
    assert snapshot.conditions["B__to__D"] == 0
    assert snapshot.conditions["C__to__D"] == 0

    finish(api, wid, "D")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions == {
        "start": 0,
        "end": 1,
        "A__to__B": 0,
        "A__to__C": 0,
        "B__to__D": 0,
        "C__to__D": 0,
    }
    assert log.count("D.enabled#1") == 1
    assert log[-2:] == ["D.started#1", "D.completed#1"]


def test_and_split_puts_one_token_on_each_output(app):
    log: list[str] = []
    wf = (
        Builder.workflow("and_tokens")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log))
        .task("B", tracked_task(log, auto_start=False))
        .task("C", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c1").task("C"))
        .connect_condition("c1", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions == {"start": 0, "end": 0, "c1": 1, "A__to__C": 1}
    assert task_states(api, wid)["B"] == ("enabled", 1)
    assert task_states(api, wid)["C"] == ("enabled", 1)


# --- XOR split / XOR join --------------------------------------------------------------------


def xor_split_join(log: list[str], choice: dict[str, list[str]]) -> Any:
    return (
        Builder.workflow("xor_net")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log, split="xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("D", tracked_task(log, join="xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C").route(chooser(choice, "xor")))
        .connect_task("B", lambda to: to.task("D"))
        .connect_task("C", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.condition("end"))
    )


@pytest.mark.parametrize(("taken", "skipped"), [("B", "C"), ("C", "B")])
def test_xor_split_takes_only_the_routed_branch_and_xor_join_fires_on_it(app, taken, skipped):
    log: list[str] = []
    api = register(app, xor_split_join(log, {"A": [taken]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks[taken].state == "started"
    assert snapshot.tasks[skipped].state == "disabled"
    assert snapshot.tasks[skipped].generation == 0
    assert snapshot.conditions[f"A__to__{taken}"] == 0  # consumed by the start
    assert snapshot.conditions[f"A__to__{skipped}"] == 0
    assert snapshot.tasks["D"].state == "disabled"

    finish(api, wid, taken)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.tasks["D"].state == "started"
    assert snapshot.tasks["D"].generation == 1
    assert snapshot.conditions[f"{taken}__to__D"] == 0

    finish(api, wid, "D")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions["end"] == 1
    assert not any(e.startswith(f"{skipped}.") for e in log)
    assert enabled_events(log) == ["A.enabled#1", f"{taken}.enabled#1", "D.enabled#1"]


def test_xor_router_may_return_a_list_holding_one_route(app):
    log: list[str] = []

    def as_list(ctx: Any) -> Any:
        return [ctx.route.to_task("C")]

    wf = (
        Builder.workflow("xor_list")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log, split="xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C").route(as_list))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    assert task_states(api, wid) == {
        "A": ("completed", 1),
        "B": ("disabled", 0),
        "C": ("started", 1),
    }


def test_xor_split_routes_to_an_explicit_condition(app):
    log: list[str] = []
    wf = (
        Builder.workflow("xor_cond")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log, split="xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task(
            "A", lambda to: to.task("B").condition("c1").route(chooser({"A": ["cond:c1"]}, "xor"))
        )
        .connect_condition("c1", lambda to: to.task("C"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions == {"start": 0, "end": 0, "c1": 1, "A__to__B": 0}
    assert snapshot.tasks["C"].state == "enabled"
    assert snapshot.tasks["B"].state == "disabled"


# --- OR split / OR join ----------------------------------------------------------------------


def or_split_join(log: list[str], choice: dict[str, list[str]]) -> Any:
    return (
        Builder.workflow("or_net")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log, split="or"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("E", tracked_task(log))
        .task("J", tracked_task(log, join="or"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C").task("E").route(chooser(choice, "or")))
        .connect_task("B", lambda to: to.task("J"))
        .connect_task("C", lambda to: to.task("J"))
        .connect_task("E", lambda to: to.task("J"))
        .connect_task("J", lambda to: to.condition("end"))
    )


@pytest.mark.parametrize(
    ("subset", "order"),
    [
        (["B"], ["B"]),
        (["C"], ["C"]),
        (["B", "C"], ["C", "B"]),
        (["C", "E"], ["C", "E"]),
        (["B", "E"], ["E", "B"]),
        (["B", "C", "E"], ["E", "B", "C"]),
    ],
)
def test_or_join_fires_once_every_routed_branch_has_completed(app, subset, order):
    log: list[str] = []
    api = register(app, or_split_join(log, {"A": subset}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    states = task_states(api, wid)
    for branch in ("B", "C", "E"):
        assert states[branch] == (("started", 1) if branch in subset else ("disabled", 0))
    assert states["J"] == ("disabled", 0)

    for done, branch in enumerate(order, start=1):
        finish(api, wid, branch)
        snapshot = api.get_workflow_snapshot(wid)
        if done < len(order):
            assert snapshot.tasks["J"].state == "disabled", f"J fired after {order[:done]}"
            assert snapshot.tasks["J"].generation == 0
            assert snapshot.conditions[f"{branch}__to__J"] == 1
        else:
            assert snapshot.tasks["J"].state == "started"
            assert snapshot.tasks["J"].generation == 1
            # an OR-join consumes from every marked input
            for b in ("B", "C", "E"):
                assert snapshot.conditions[f"{b}__to__J"] == 0

    finish(api, wid, "J")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.conditions["end"] == 1
    assert log.count("J.enabled#1") == 1
    assert [e for e in enabled_events(log) if e[0] in "BCE"] == [f"{b}.enabled#1" for b in subset]


def test_or_split_duplicate_routes_produce_one_token(app):
    log: list[str] = []
    wf = (
        Builder.workflow("or_dup")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log, split="or"))
        .task("B", tracked_task(log, auto_start=False))
        .task("C", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task(
            "A", lambda to: to.task("B").task("C").route(chooser({"A": ["B", "B"]}, "or"))
        )
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["A__to__B"] == 1
    assert snapshot.conditions["A__to__C"] == 0
    assert task_states(api, wid)["B"] == ("enabled", 1)
    assert task_states(api, wid)["C"] == ("disabled", 0)


def two_or_blocks(log: list[str], choice: dict[str, list[str]]) -> Any:
    """start -> A (OR) -> {B, C} -> J1 (OR join, OR split) -> {D, E} -> J2 (OR join) -> end,
    with a parallel OR block P (OR) -> {Q, R} -> J3 (OR join) joined at the end by an AND-join."""
    return (
        Builder.workflow("or_blocks")
        .start_condition("start")
        .end_condition("end")
        .task("S", tracked_task(log))
        .task("A", tracked_task(log, split="or"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("J1", tracked_task(log, join="or", split="or"))
        .task("D", tracked_task(log))
        .task("E", tracked_task(log))
        .task("J2", tracked_task(log, join="or"))
        .task("P", tracked_task(log, split="or"))
        .task("Q", tracked_task(log))
        .task("R", tracked_task(log))
        .task("J3", tracked_task(log, join="or"))
        .task("F", tracked_task(log))
        .connect_condition("start", lambda to: to.task("S"))
        .connect_task("S", lambda to: to.task("A").task("P"))
        .connect_task("A", lambda to: to.task("B").task("C").route(chooser(choice, "or")))
        .connect_task("B", lambda to: to.task("J1"))
        .connect_task("C", lambda to: to.task("J1"))
        .connect_task("J1", lambda to: to.task("D").task("E").route(chooser(choice, "or")))
        .connect_task("D", lambda to: to.task("J2"))
        .connect_task("E", lambda to: to.task("J2"))
        .connect_task("J2", lambda to: to.task("F"))
        .connect_task("P", lambda to: to.task("Q").task("R").route(chooser(choice, "or")))
        .connect_task("Q", lambda to: to.task("J3"))
        .connect_task("R", lambda to: to.task("J3"))
        .connect_task("J3", lambda to: to.task("F"))
        .connect_task("F", lambda to: to.condition("end"))
    )


def test_several_or_splits_and_joins_each_wait_for_their_own_branches(app):
    log: list[str] = []
    choice = {"A": ["B", "C"], "J1": ["E"], "P": ["Q", "R"]}
    api = register(app, two_or_blocks(log, choice))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "S")
    finish(api, wid, "A")
    finish(api, wid, "P")
    states = task_states(api, wid)
    assert {t: states[t][0] for t in ("B", "C", "Q", "R", "J1", "J3")} == {
        "B": "started",
        "C": "started",
        "Q": "started",
        "R": "started",
        "J1": "disabled",
        "J3": "disabled",
    }

    finish(api, wid, "B")
    finish(api, wid, "Q")
    states = task_states(api, wid)
    assert states["J1"] == ("disabled", 0)
    assert states["J3"] == ("disabled", 0)

    finish(api, wid, "R")  # J3's last pending branch; J1 still waits for C
    states = task_states(api, wid)
    assert states["J3"] == ("started", 1)
    assert states["J1"] == ("disabled", 0)

    finish(api, wid, "C")
    assert task_states(api, wid)["J1"] == ("started", 1)
    finish(api, wid, "J1")
    states = task_states(api, wid)
    assert states["D"] == ("disabled", 0)
    assert states["E"] == ("started", 1)
    assert states["J2"] == ("disabled", 0)

    finish(api, wid, "J3")
    assert task_states(api, wid)["F"] == ("disabled", 0)  # AND-join still needs J2
    finish(api, wid, "E")
    assert task_states(api, wid)["J2"] == ("started", 1)  # D was never routed: no waiting
    finish(api, wid, "J2")
    assert task_states(api, wid)["F"] == ("started", 1)
    finish(api, wid, "F")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert all(v == 0 for k, v in snapshot.conditions.items() if k != "end")
    assert snapshot.conditions["end"] == 1
    for join in ("J1", "J2", "J3", "F"):
        assert log.count(f"{join}.enabled#1") == 1
        assert f"{join}.enabled#2" not in log


# --- nested splits ---------------------------------------------------------------------------


def nested(log: list[str], choice: dict[str, list[str]]) -> Any:
    """start -> A (AND) -> {B, C}; B (XOR) -> {D, E} -> F (XOR join); C (OR) -> {G, H} ->
    I (OR join); F, I -> K (AND join) -> end."""
    return (
        Builder.workflow("nested")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .task("B", tracked_task(log, split="xor"))
        .task("C", tracked_task(log, split="or"))
        .task("D", tracked_task(log))
        .task("E", tracked_task(log))
        .task("F", tracked_task(log, join="xor"))
        .task("G", tracked_task(log))
        .task("H", tracked_task(log))
        .task("I", tracked_task(log, join="or"))
        .task("K", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C"))
        .connect_task("B", lambda to: to.task("D").task("E").route(chooser(choice, "xor")))
        .connect_task("C", lambda to: to.task("G").task("H").route(chooser(choice, "or")))
        .connect_task("D", lambda to: to.task("F"))
        .connect_task("E", lambda to: to.task("F"))
        .connect_task("G", lambda to: to.task("I"))
        .connect_task("H", lambda to: to.task("I"))
        .connect_task("F", lambda to: to.task("K"))
        .connect_task("I", lambda to: to.task("K"))
        .connect_task("K", lambda to: to.condition("end"))
    )


def test_nested_xor_and_or_blocks_inside_an_and_block(app):
    log: list[str] = []
    api = register(app, nested(log, {"B": ["E"], "C": ["G", "H"]}))
    wid = api.internal_initialize_root_workflow()
    finish(api, wid, "A")
    finish(api, wid, "B")
    finish(api, wid, "C")
    states = task_states(api, wid)
    assert states["D"] == ("disabled", 0)
    assert states["E"] == ("started", 1)
    assert states["G"] == ("started", 1)
    assert states["H"] == ("started", 1)

    finish(api, wid, "E")
    assert task_states(api, wid)["F"] == ("started", 1)
    finish(api, wid, "F")
    assert task_states(api, wid)["K"] == ("disabled", 0)
    finish(api, wid, "H")
    assert task_states(api, wid)["I"] == ("disabled", 0)  # G can still deliver
    finish(api, wid, "G")
    assert task_states(api, wid)["I"] == ("started", 1)
    finish(api, wid, "I")
    assert task_states(api, wid)["K"] == ("started", 1)
    finish(api, wid, "K")
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert snapshot.tasks["D"].generation == 0
    assert sum(snapshot.conditions.values()) == 1  # only the end token is left


# --- route validation (§17.8) ----------------------------------------------------------------


def routed_workflow(log: list[str], split: str, router: Callable[[Any], Any], name: str) -> Any:
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("A", tracked_task(log, split=split))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .task("Z", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").task("C").route(router))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("c1"))
        .connect_condition("c1", lambda to: to.task("Z"))
        .connect_task("Z", lambda to: to.condition("end"))
    )


BAD_ROUTES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("xor", "xor_to_unconnected_task", lambda ctx: ctx.route.to_task("Z")),
    ("xor", "xor_to_unconnected_condition", lambda ctx: ctx.route.to_condition("c1")),
    ("xor", "xor_to_unknown_condition", lambda ctx: ctx.route.to_condition("nowhere")),
    ("xor", "xor_to_unknown_task", lambda ctx: ctx.route.to_task("nobody")),
    ("xor", "xor_no_route", lambda ctx: []),
    ("xor", "xor_two_routes", lambda ctx: [ctx.route.to_task("B"), ctx.route.to_task("C")]),
    ("xor", "xor_none", lambda ctx: None),
    ("xor", "xor_string", lambda ctx: "B"),
    ("or", "or_empty", lambda ctx: []),
    ("or", "or_one_unconnected", lambda ctx: [ctx.route.to_task("B"), ctx.route.to_task("Z")]),
    ("or", "or_not_routes", lambda ctx: ["B", "C"]),
]


@pytest.mark.parametrize(
    ("split", "name", "router"), BAD_ROUTES, ids=[name for _, name, _ in BAD_ROUTES]
)
def test_invalid_route_raises_and_rolls_the_completion_back(app, split, name, router):
    log: list[str] = []
    api = register(app, routed_workflow(log, split, router, name))
    wid = api.internal_initialize_root_workflow()
    item = current_item(api, wid, "A")
    assert item.state == "started"
    before = api.get_workflow_snapshot(wid)

    with pytest.raises(tq.TaskInvalidRouteError) as error:
        api.internal_complete_work_item(item.id)
    assert "'A'" in str(error.value)

    assert api.get_workflow_snapshot(wid) == before
    assert api.get_work_item_state(item.id) == "started"
    assert before.tasks["A"].state == "started"
    assert before.conditions["A__to__B"] == 0
    assert before.conditions["A__to__C"] == 0


def test_xor_route_to_a_non_outgoing_target_names_the_outgoing_conditions(app):
    log: list[str] = []
    api = register(
        app, routed_workflow(log, "xor", lambda ctx: ctx.route.to_task("Z"), "route_msg")
    )
    wid = api.internal_initialize_root_workflow()
    item = current_item(api, wid, "A")
    with pytest.raises(tq.TaskInvalidRouteError, match="A__to__Z") as error:
        api.internal_complete_work_item(item.id)
    assert "A__to__B" in str(error.value)


def test_call_succeeds_after_the_router_is_fixed(app):
    log: list[str] = []
    targets: list[str] = []

    def router(ctx: Any) -> Any:
        return [ctx.route.to_task(t) for t in targets]

    api = register(app, routed_workflow(log, "or", router, "route_retry"))
    wid = api.internal_initialize_root_workflow()
    item = current_item(api, wid, "A")
    with pytest.raises(tq.TaskInvalidRouteError):
        api.internal_complete_work_item(item.id)
    targets.append("C")
    api.internal_complete_work_item(item.id)
    states = task_states(api, wid)
    assert states["A"] == ("completed", 1)
    assert states["B"] == ("disabled", 0)
    assert states["C"] == ("started", 1)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["A__to__C"] == 0
    assert snapshot.conditions["A__to__B"] == 0


def test_invalid_route_from_a_dummy_task_rolls_back_the_call_that_reached_it(app):
    log: list[str] = []
    wf = (
        Builder.workflow("dummy_bad_route")
        .start_condition("start")
        .end_condition("end")
        .task("A", tracked_task(log))
        .dummy_task("D", Builder.dummy_task().with_split_type("xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("B").task("C").route(lambda ctx: []))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    item = current_item(api, wid, "A")
    before = api.get_workflow_snapshot(wid)
    with pytest.raises(tq.TaskInvalidRouteError):
        api.internal_complete_work_item(item.id)
    assert api.get_workflow_snapshot(wid) == before
    assert before.tasks["D"].state == "disabled"


# --- router context --------------------------------------------------------------------------


def test_router_context_exposes_route_parent_task_and_work_item_name(app):
    log: list[str] = []
    seen: list[dict[str, Any]] = []

    def router(ctx: Any) -> Any:
        seen.append(
            {
                "workflow_id": ctx.parent.workflow.id,
                "workflow_name": ctx.parent.workflow.name,
                "task": ctx.task.name,
                "generation": ctx.task.generation,
                "path": list(ctx.task.path),
                "work_item": ctx.work_item.name,
                "work_item_ids": ctx.work_item.get_all_work_item_ids(),
                "is_internal": ctx.is_internal,
            }
        )
        return ctx.route.to_condition("c1")

    wf = (
        Builder.workflow("router_ctx")
        .start_condition("start")
        .end_condition("end")
        .condition("c1")
        .task("review", tracked_task(log, item="review_item", split="xor"))
        .task("B", tracked_task(log))
        .task("C", tracked_task(log))
        .connect_condition("start", lambda to: to.task("review"))
        .connect_task("review", lambda to: to.task("B").condition("c1").route(router))
        .connect_condition("c1", lambda to: to.task("C"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    item = current_item(api, wid, "review")
    api.internal_complete_work_item(item.id)
    assert seen == [
        {
            "workflow_id": wid,
            "workflow_name": "router_ctx",
            "task": "review",
            "generation": 1,
            "path": ["router_ctx", "review"],
            "work_item": "review_item",
            "work_item_ids": [item.id],
            "is_internal": True,
        }
    ]
    states = task_states(api, wid)
    assert states["C"] == ("started", 1)
    assert states["B"] == ("disabled", 0)


def test_router_of_a_dummy_task_gets_task_and_parent(app):
    seen: list[tuple[Any, ...]] = []
    log: list[str] = []

    def router(ctx: Any) -> Any:
        seen.append((ctx.parent.workflow.name, ctx.task.name, ctx.task.generation))
        return [ctx.route.to_task("B"), ctx.route.to_task("C")]

    wf = (
        Builder.workflow("dummy_router")
        .start_condition("start")
        .end_condition("end")
        .dummy_task("D", Builder.dummy_task().with_split_type("or"))
        .task("B", tracked_task(log, auto_start=False))
        .task("C", tracked_task(log, auto_start=False))
        .connect_condition("start", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.task("B").task("C").route(router))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()
    assert seen == [("dummy_router", "D", 1)]
    assert task_states(api, wid) == {
        "D": ("completed", 1),
        "B": ("enabled", 1),
        "C": ("enabled", 1),
    }
