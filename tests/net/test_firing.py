"""Token rules: join conditions, what a start consumes, what a completion produces."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tasquencer.errors import TaskInvalidRouteError
from tasquencer.net.firing import consumed_conditions, join_holds, produced_conditions
from tasquencer.net.model import JoinType, Net, SplitType, TaskShape


def fan_net(join: JoinType = "and", split: SplitType = "and") -> Net:
    """start -> A (and split) -> a, b, c -> T (join) ; T (split) -> x, y, z -> Z -> end."""
    return Net.build(
        "fan",
        start="start",
        end="end",
        conditions=["start", "end", "a", "b", "c", "x", "y", "z"],
        tasks=[TaskShape("A"), TaskShape("T", join=join, split=split), TaskShape("Z", join="xor")],
        arcs=[
            ("start", "A"),
            ("A", "a"),
            ("A", "b"),
            ("A", "c"),
            ("b", "T"),
            ("a", "T"),
            ("c", "T"),
            ("T", "x"),
            ("T", "y"),
            ("T", "z"),
            ("x", "Z"),
            ("y", "Z"),
            ("z", "Z"),
            ("Z", "end"),
        ],
    )


def marking(net: Net, **tokens: int) -> dict[str, int]:
    return {c: tokens.get(c, 0) for c in net.conditions}


# --- joins -----------------------------------------------------------------------------------


def test_and_join_holds_only_when_every_input_is_marked() -> None:
    net = fan_net("and")
    assert join_holds(net, "T", marking(net, a=1, b=1, c=2), ())
    assert not join_holds(net, "T", marking(net, a=1, b=1), ())


@pytest.mark.parametrize("marked", ["a", "b", "c"])
def test_xor_join_holds_when_any_input_is_marked(marked: str) -> None:
    net = fan_net("xor")
    assert join_holds(net, "T", marking(net, **{marked: 1}), ())


def test_xor_join_does_not_hold_without_tokens() -> None:
    net = fan_net("xor")
    assert not join_holds(net, "T", marking(net), ())


def test_or_join_holds_when_every_input_is_marked() -> None:
    net = fan_net("or")
    assert join_holds(net, "T", marking(net, a=1, b=1, c=1), ())


def test_or_join_does_not_hold_without_tokens() -> None:
    net = fan_net("or")
    assert not join_holds(net, "T", marking(net), ())


def test_or_join_waits_for_a_started_task_that_can_still_deliver() -> None:
    net = fan_net("or")
    assert not join_holds(net, "T", marking(net, a=1), ("A",))


def test_or_join_holds_when_nothing_else_can_arrive() -> None:
    net = fan_net("or")
    assert join_holds(net, "T", marking(net, a=1, x=1), ())


# --- consumption -----------------------------------------------------------------------------


def test_and_join_consumes_every_input() -> None:
    net = fan_net("and")
    assert consumed_conditions(net, "T", marking(net, a=1, b=1, c=1)) == ("b", "a", "c")


def test_xor_join_consumes_only_the_first_marked_input_in_preset_order() -> None:
    net = fan_net("xor")
    assert consumed_conditions(net, "T", marking(net, a=1, b=1, c=1)) == ("b",)
    assert consumed_conditions(net, "T", marking(net, a=1, c=1)) == ("a",)
    assert consumed_conditions(net, "T", marking(net, c=3)) == ("c",)


def test_xor_join_without_tokens_consumes_nothing() -> None:
    net = fan_net("xor")
    assert consumed_conditions(net, "T", marking(net)) == ()


def test_or_join_consumes_every_marked_input() -> None:
    net = fan_net("or")
    assert consumed_conditions(net, "T", marking(net, a=1, c=2)) == ("a", "c")


# --- production ------------------------------------------------------------------------------


def test_and_split_produces_on_every_output() -> None:
    net = fan_net(split="and")
    assert produced_conditions(net, "T", None) == ("x", "y", "z")


@pytest.mark.parametrize("target", ["x", "y", "z"])
def test_xor_split_produces_on_its_one_route(target: str) -> None:
    net = fan_net(split="xor")
    assert produced_conditions(net, "T", [target]) == (target,)


def test_or_split_produces_on_each_route_once() -> None:
    net = fan_net(split="or")
    assert produced_conditions(net, "T", ["z", "x"]) == ("z", "x")
    assert produced_conditions(net, "T", ["y", "y"]) == ("y",)


@pytest.mark.parametrize("split", ["xor", "or"])
@pytest.mark.parametrize("routed", [["a"], ["x", "nope"], ["end"]])
def test_routes_outside_the_outputs_are_rejected(split: SplitType, routed: Sequence[str]) -> None:
    with pytest.raises(TaskInvalidRouteError, match="not one of its outgoing"):
        produced_conditions(fan_net(split=split), "T", routed)


@pytest.mark.parametrize("routed", [[], ["x", "y"], ["x", "x"]], ids=["none", "two", "twice"])
def test_xor_split_needs_exactly_one_route(routed: Sequence[str]) -> None:
    with pytest.raises(TaskInvalidRouteError, match="exactly one route"):
        produced_conditions(fan_net(split="xor"), "T", routed)


def test_or_split_needs_at_least_one_route() -> None:
    with pytest.raises(TaskInvalidRouteError, match="at least one route"):
        produced_conditions(fan_net(split="or"), "T", [])


@pytest.mark.parametrize("split", ["xor", "or"])
def test_routed_split_without_a_route_is_rejected(split: SplitType) -> None:
    with pytest.raises(TaskInvalidRouteError, match="needs a route"):
        produced_conditions(fan_net(split=split), "T", None)
