"""Token rules: when a join holds, what a start consumes, where a split puts tokens."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from tasquencer.errors import TaskInvalidRouteError
from tasquencer.net.model import Marking, Net
from tasquencer.net.or_join import or_join_enabled


def join_holds(net: Net, task: str, marking: Marking, started: Collection[str]) -> bool:
    """Whether `task` may be enabled in this state (`started` = the tasks currently started)."""
    preset = net.presets[task]
    join = net.joins[task]
    if join == "and":
        return bool(preset) and all(marking[c] > 0 for c in preset)
    if join == "xor":
        return any(marking[c] > 0 for c in preset)
    return or_join_enabled(net, task, marking, started)


def consumed_conditions(net: Net, task: str, marking: Marking) -> tuple[str, ...]:
    """The conditions that lose one token each when `task` starts.

    AND: every input. XOR: the first marked input in preset order, and only that one.
    OR: every marked input.
    """
    preset = net.presets[task]
    join = net.joins[task]
    if join == "and":
        return preset
    if join == "xor":
        for condition in preset:
            if marking[condition] > 0:
                return (condition,)
        return ()
    return tuple(c for c in preset if marking[c] > 0)


def produced_conditions(net: Net, task: str, routed: Sequence[str] | None) -> tuple[str, ...]:
    """The conditions that gain one token each when `task` completes.

    `routed` is what the task's router chose (condition names), or None for an AND split.
    Raises `TaskInvalidRouteError` for a choice the split does not allow.
    """
    postset = net.postsets[task]
    split = net.splits[task]
    if split == "and":
        return postset
    if routed is None:
        raise TaskInvalidRouteError(f"task {task!r} ({split} split) needs a route to continue")
    for target in routed:
        if target not in postset:
            raise TaskInvalidRouteError(
                f"task {task!r} routed to {target!r}, which is not one of its outgoing "
                f"conditions ({', '.join(map(repr, postset)) or 'none'})"
            )
    if split == "xor" and len(routed) != 1:
        raise TaskInvalidRouteError(
            f"task {task!r} has an XOR split: its router must return exactly one route, "
            f"got {len(routed)}"
        )
    if split == "or" and not routed:
        raise TaskInvalidRouteError(
            f"task {task!r} has an OR split: its router must return at least one route"
        )
    return tuple(dict.fromkeys(routed))
