"""The compiled, immutable net of one workflow definition: conditions, tasks and the arcs between.

Everything here is independent of storage. A `Net` is built once per definition; whatever does
not depend on a marking (presets, postsets, consumers, OR-join analysers) is computed once and
kept on it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tasquencer.errors import (
    DuplicateElementError,
    InvalidFlowError,
    UnknownElementError,
    UnreachableElementError,
)

JoinType = Literal["and", "xor", "or"]
SplitType = Literal["and", "xor", "or"]
Marking = Mapping[str, int]

JOIN_TYPES: tuple[JoinType, ...] = ("and", "xor", "or")
SPLIT_TYPES: tuple[SplitType, ...] = ("and", "xor", "or")


@dataclass(frozen=True, slots=True)
class TaskShape:
    """What the net needs to know about a task: its name and its join and split types."""

    name: str
    join: JoinType = "and"
    split: SplitType = "and"


@dataclass(frozen=True, slots=True)
class Region:
    """The tasks and conditions a task's completion cancels."""

    tasks: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Net:
    """A YAWL net. Build it with `Net.build`, which validates the structure."""

    name: str
    start: str
    end: str
    conditions: tuple[str, ...]
    tasks: tuple[str, ...]
    joins: Mapping[str, JoinType]
    splits: Mapping[str, SplitType]
    presets: Mapping[str, tuple[str, ...]]
    postsets: Mapping[str, tuple[str, ...]]
    consumers: Mapping[str, tuple[str, ...]]
    producers: Mapping[str, tuple[str, ...]]
    regions: Mapping[str, Region]
    # Each task's index in `tasks`, and the OR-joins: what a sweep needs to order and find
    # the tasks it examines.
    position: Mapping[str, int]
    or_joins: frozenset[str]
    # What analyses (the OR-join's) compute once per net and keep.
    cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        name: str,
        *,
        start: str,
        end: str,
        conditions: Sequence[str],
        tasks: Sequence[TaskShape],
        arcs: Iterable[tuple[str, str]],
        regions: Mapping[str, Region] | None = None,
    ) -> Net:
        """Validate and compile a net.

        `conditions` must include start and end. `arcs` are (source, target) pairs between a
        condition and a task, in declaration order: that order is each task's preset order.
        """
        task_names = tuple(t.name for t in tasks)
        _reject_duplicates(name, conditions, task_names)
        condition_set, task_set = set(conditions), set(task_names)
        for special, label in ((start, "start"), (end, "end")):
            if special not in condition_set:
                raise UnknownElementError(
                    f"workflow {name!r}: {label} condition {special!r} is not a condition"
                )

        presets: dict[str, list[str]] = {t: [] for t in task_names}
        postsets: dict[str, list[str]] = {t: [] for t in task_names}
        consumers: dict[str, list[str]] = {c: [] for c in conditions}
        producers: dict[str, list[str]] = {c: [] for c in conditions}
        for source, target in arcs:
            if source in condition_set and target in task_set:
                _append_once(presets[target], source)
                _append_once(consumers[source], target)
            elif source in task_set and target in condition_set:
                _append_once(postsets[source], target)
                _append_once(producers[target], source)
            else:
                raise _bad_arc(name, source, target, condition_set, task_set)
        if consumers[end]:
            raise InvalidFlowError(
                f"workflow {name!r}: the end condition {end!r} cannot flow into a task "
                f"(it flows into {', '.join(map(repr, consumers[end]))})"
            )

        checked_regions = _check_regions(name, regions or {}, condition_set, task_set)
        net = cls(
            name=name,
            start=start,
            end=end,
            conditions=tuple(conditions),
            tasks=task_names,
            joins={t.name: t.join for t in tasks},
            splits={t.name: t.split for t in tasks},
            presets={t: tuple(v) for t, v in presets.items()},
            postsets={t: tuple(v) for t, v in postsets.items()},
            consumers={c: tuple(v) for c, v in consumers.items()},
            producers={c: tuple(v) for c, v in producers.items()},
            regions=checked_regions,
            position={t: i for i, t in enumerate(task_names)},
            or_joins=frozenset(t.name for t in tasks if t.join == "or"),
        )
        _reject_unreachable(net)
        return net

    def region(self, task: str) -> Region:
        return self.regions.get(task, _EMPTY_REGION)

    def is_condition(self, name: str) -> bool:
        return name in self.consumers

    def is_task(self, name: str) -> bool:
        return name in self.presets


_EMPTY_REGION = Region()


def _append_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _reject_duplicates(name: str, conditions: Sequence[str], tasks: Sequence[str]) -> None:
    seen: set[str] = set()
    for element in (*conditions, *tasks):
        if element in seen:
            raise DuplicateElementError(
                f"workflow {name!r}: the name {element!r} is used by more than one "
                "task or condition"
            )
        seen.add(element)


def _bad_arc(
    name: str, source: str, target: str, conditions: set[str], tasks: set[str]
) -> Exception:
    for node in (source, target):
        if node not in conditions and node not in tasks:
            return UnknownElementError(
                f"workflow {name!r}: the flow {source!r} -> {target!r} names {node!r}, "
                "which is neither a task nor a condition of this workflow"
            )
    kind = "condition" if source in conditions else "task"
    return InvalidFlowError(
        f"workflow {name!r}: the flow {source!r} -> {target!r} joins a {kind} to a {kind}; "
        "flows go from a condition to a task or from a task to a condition"
    )


def _check_regions(
    name: str,
    regions: Mapping[str, Region],
    conditions: set[str],
    tasks: set[str],
) -> dict[str, Region]:
    checked: dict[str, Region] = {}
    for owner, region in regions.items():
        if owner not in tasks:
            raise UnknownElementError(
                f"workflow {name!r}: cancellation region owner {owner!r} is not a task"
            )
        for member in region.tasks:
            if member not in tasks:
                raise UnknownElementError(
                    f"workflow {name!r}: cancellation region of {owner!r} names task "
                    f"{member!r}, which this workflow does not have"
                )
        for member in region.conditions:
            if member not in conditions:
                raise UnknownElementError(
                    f"workflow {name!r}: cancellation region of {owner!r} names condition "
                    f"{member!r}, which this workflow does not have"
                )
        members = tuple(dict.fromkeys(t for t in region.tasks if t != owner))
        checked[owner] = Region(members, tuple(dict.fromkeys(region.conditions)))
    return checked


def _reject_unreachable(net: Net) -> None:
    seen = {net.start}
    queue = deque([net.start])
    while queue:
        node = queue.popleft()
        successors = net.consumers[node] if net.is_condition(node) else net.postsets[node]
        for successor in successors:
            if successor not in seen:
                seen.add(successor)
                queue.append(successor)
    unreachable = [n for n in (*net.tasks, *net.conditions) if n not in seen]
    if unreachable:
        raise UnreachableElementError(
            f"workflow {net.name!r}: not reachable from the start condition {net.start!r}: "
            + ", ".join(map(repr, unreachable))
        )
