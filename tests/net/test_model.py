"""`Net.build`: what it compiles and what it rejects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from tasquencer.errors import (
    DuplicateElementError,
    InvalidFlowError,
    UnknownElementError,
    UnreachableElementError,
)
from tasquencer.net.model import Net, Region, TaskShape


def build(
    arcs: Sequence[tuple[str, str]],
    *,
    conditions: Sequence[str] = ("start", "end", "c"),
    tasks: Sequence[TaskShape] = (TaskShape("A"), TaskShape("B")),
    regions: Mapping[str, Region] | None = None,
    start: str = "start",
    end: str = "end",
) -> Net:
    return Net.build(
        "wf",
        start=start,
        end=end,
        conditions=conditions,
        tasks=tasks,
        arcs=arcs,
        regions=regions,
    )


LINE = (("start", "A"), ("A", "c"), ("c", "B"), ("B", "end"))


def test_build_compiles_presets_postsets_and_their_inverses() -> None:
    net = build(
        [("start", "A"), ("A", "c"), ("A", "d"), ("d", "B"), ("c", "B"), ("B", "end")],
        conditions=("start", "end", "c", "d"),
        tasks=(TaskShape("A", split="or"), TaskShape("B", join="xor")),
    )
    assert net.conditions == ("start", "end", "c", "d")
    assert net.tasks == ("A", "B")
    assert net.presets == {"A": ("start",), "B": ("d", "c")}
    assert net.postsets == {"A": ("c", "d"), "B": ("end",)}
    assert net.consumers == {"start": ("A",), "end": (), "c": ("B",), "d": ("B",)}
    assert net.producers == {"start": (), "end": ("B",), "c": ("A",), "d": ("A",)}
    assert net.joins == {"A": "and", "B": "xor"}
    assert net.splits == {"A": "or", "B": "and"}


def test_preset_order_is_arc_declaration_order() -> None:
    net = build(
        [("start", "A"), ("A", "d"), ("A", "c"), ("d", "B"), ("c", "B"), ("B", "end")],
        conditions=("start", "end", "c", "d"),
    )
    assert net.presets["B"] == ("d", "c")


def test_a_repeated_arc_counts_once() -> None:
    net = build([*LINE, ("A", "c"), ("c", "B")])
    assert net.postsets["A"] == ("c",)
    assert net.presets["B"] == ("c",)


def test_element_kinds() -> None:
    net = build(LINE)
    assert net.is_condition("c") and not net.is_task("c")
    assert net.is_task("A") and not net.is_condition("A")
    assert not net.is_task("nope") and not net.is_condition("nope")


def test_regions_are_deduplicated_and_never_contain_their_owner() -> None:
    net = build(LINE, regions={"B": Region(tasks=("A", "B", "A"), conditions=("c", "c"))})
    assert net.region("B") == Region(tasks=("A",), conditions=("c",))


def test_a_task_without_region_has_an_empty_one() -> None:
    assert build(LINE).region("A") == Region()


def test_each_net_has_its_own_cache() -> None:
    assert build(LINE).cache is not build(LINE).cache


@pytest.mark.parametrize(
    ("conditions", "tasks"),
    [
        (("start", "end", "c", "c"), (TaskShape("A"), TaskShape("B"))),
        (("start", "end", "c"), (TaskShape("A"), TaskShape("A"))),
        (("start", "end", "c", "A"), (TaskShape("A"), TaskShape("B"))),
    ],
    ids=["condition twice", "task twice", "task and condition"],
)
def test_duplicate_names_are_rejected(
    conditions: Sequence[str], tasks: Sequence[TaskShape]
) -> None:
    with pytest.raises(DuplicateElementError):
        build(LINE, conditions=conditions, tasks=tasks)


@pytest.mark.parametrize(("start", "end"), [("begin", "end"), ("start", "finish")])
def test_start_and_end_must_be_conditions(start: str, end: str) -> None:
    with pytest.raises(UnknownElementError):
        build(LINE, start=start, end=end)


@pytest.mark.parametrize(
    ("arc", "unknown"),
    [(("start", "Z"), "Z"), (("Z", "c"), "Z"), (("x", "B"), "x")],
    ids=["target", "source", "condition"],
)
def test_arcs_naming_unknown_elements_are_rejected(arc: tuple[str, str], unknown: str) -> None:
    with pytest.raises(UnknownElementError, match=repr(unknown)):
        build([*LINE, arc])


@pytest.mark.parametrize(
    "arc", [("start", "c"), ("A", "B")], ids=["condition to condition", "task to task"]
)
def test_arcs_between_two_conditions_or_two_tasks_are_rejected(arc: tuple[str, str]) -> None:
    with pytest.raises(InvalidFlowError):
        build([*LINE, arc])


def test_the_end_condition_cannot_flow_into_a_task() -> None:
    with pytest.raises(InvalidFlowError, match="end"):
        build([*LINE, ("end", "A")])


def test_unreachable_tasks_are_rejected() -> None:
    with pytest.raises(UnreachableElementError, match="'B'"):
        build([("start", "A"), ("A", "end"), ("c", "B"), ("B", "c")])


def test_unreachable_conditions_are_rejected() -> None:
    with pytest.raises(UnreachableElementError, match="'c'"):
        build([("start", "A"), ("A", "end")], tasks=(TaskShape("A"),))


@pytest.mark.parametrize(
    "regions",
    [
        {"Z": Region(tasks=("A",))},
        {"B": Region(tasks=("Z",))},
        {"B": Region(conditions=("z",))},
        {"B": Region(conditions=("A",))},
    ],
    ids=["owner", "task member", "condition member", "task named as condition"],
)
def test_regions_naming_unknown_elements_are_rejected(regions: Mapping[str, Region]) -> None:
    with pytest.raises(UnknownElementError):
        build(LINE, regions=regions)
