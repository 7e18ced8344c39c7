"""Backward coverability for reset nets with "must be empty" guards.

A marking is a tuple of token counts indexed by place number. A transition needs its `pre`
tokens and every `empty` place at 0; firing removes `pre`, sets every `resets` place to 0, then
adds `post`. The caller must make sure its net is monotone (more tokens never disable a move
nor make its result smaller): guards alone break that, `or_join` uses them only in a family
that keeps it.

`ResetNet.coverable(source, targets)` answers "can some marking reachable from `source` be at
least one of `targets`?" with the Finkel-Schnoebelen saturation: starting from the targets,
keep a minimal basis of the upward-closed set of markings that can reach one of them, add the
minimal predecessors of every new basis element until nothing new appears, and answer yes as
soon as a basis element is at most `source`. Two prunings keep the basis small:

* a forward pass from `source` (ignoring resets and guards) finds the places that can ever hold
  a token and the transitions that can ever fire; a marking needing another place can never be
  on the way from `source` to a target, and only those transitions are run backwards;
* `complements` name place pairs (a, b) with a + b == 1 in every marking of interest (a task's
  busy and idle places); a predecessor needing two tokens in such a pair is dropped.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import ge

Vector = tuple[int, ...]
Counts = tuple[tuple[int, int], ...]

_UNBOUNDED = sys.maxsize


@dataclass(frozen=True, slots=True)
class Transition:
    """A reset-net transition; `pre` and `post` are (place, count) pairs, one per place."""

    pre: Counts
    post: Counts
    resets: tuple[int, ...] = ()
    empty: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _BackwardStep:
    """What running one transition backwards needs, laid out for the hot loop."""

    reset_bounds: Counts
    empty: tuple[int, ...]
    post: Counts
    pre: Counts
    complements: tuple[tuple[int, int], ...]


class ResetNet:
    """A reset net over places 0..size-1, precompiled for repeated coverability questions."""

    def __init__(
        self,
        size: int,
        transitions: Sequence[Transition],
        complements: Iterable[tuple[int, int]] = (),
    ) -> None:
        pairs = tuple(complements)
        self._steps = tuple(_backward_step(t, pairs) for t in transitions)
        self._pre_sizes = tuple(len(t.pre) for t in transitions)
        self._post_places = tuple(tuple(p for p, _ in t.post) for t in transitions)
        self._producers = _index_by_place(size, (t.post for t in transitions))
        self._consumers = _index_by_place(size, (t.pre for t in transitions))

    def coverable(self, source: Vector, targets: Iterable[Vector]) -> bool:
        """Whether a marking reachable from `source` is at least one of `targets`."""
        ceiling, fireable = self._forward_bounds(source)
        basis = [t for t in targets if _at_most(t, ceiling)]
        if any(_at_most(t, source) for t in basis):
            return True
        return self._saturate(source, basis, [_shortfall(t, source) for t in basis], fireable)

    def coverable_one_more(self, source: Vector, base: Vector, places: Iterable[int]) -> bool:
        """`coverable(source, [base + one token on p for p in places])`, for a `base` at most
        `source` and places `source` leaves empty: the targets a path can never reach (no
        token can ever come to p) are dropped before any vector is built."""
        ceiling, fireable = self._forward_bounds(source)
        basis = [_plus_one(base, p) for p in places if ceiling[p]]
        # Each target lacks exactly the one token on its place.
        return bool(basis) and self._saturate(source, basis, [1] * len(basis), fireable)

    def _saturate(
        self, source: Vector, basis: list[Vector], shortfalls: list[int], fireable: bytearray
    ) -> bool:
        """The backward search from `basis`, whose elements all need more than `source`
        (`shortfalls`: how many tokens each lacks)."""
        live = set(basis)
        # Best first: fewest tokens missing from `source`, then newest. A witness, when there
        # is one, is then usually reached in a few steps; plain breadth first expands whole
        # levels before, plain depth first can wander into ever larger markings.
        pending = [(shortfalls[n], -n, t) for n, t in enumerate(basis)]
        heapq.heapify(pending)
        added = len(pending)
        while pending:
            marking = heapq.heappop(pending)[2]
            if marking not in live:
                continue
            for index in self._producers_of(marking, fireable):
                previous = _predecessor(marking, self._steps[index])
                if previous is None or any(_at_most(b, previous) for b in basis):
                    continue
                shortfall = _shortfall(previous, source)
                if not shortfall:
                    return True
                basis = _insert_minimal(basis, live, previous)
                added += 1
                heapq.heappush(pending, (shortfall, -added, previous))
        return False

    def _forward_bounds(self, source: Vector) -> tuple[list[int], bytearray]:
        """A ceiling over every marking on a path from `source` (unbounded on the places that
        may ever hold a token, 0 elsewhere) and the transitions that may ever fire."""
        ceiling = [_UNBOUNDED if n else 0 for n in source]
        fireable = bytearray(len(self._steps))
        missing = list(self._pre_sizes)
        stack = [p for p, n in enumerate(source) if n]
        for index, size in enumerate(missing):
            if size == 0:
                fireable[index] = 1
                _raise_ceiling(self._post_places[index], ceiling, stack)
        while stack:
            for index in self._consumers[stack.pop()]:
                missing[index] -= 1
                if missing[index] == 0:
                    fireable[index] = 1
                    _raise_ceiling(self._post_places[index], ceiling, stack)
        return ceiling, fireable

    def _producers_of(self, marking: Vector, fireable: bytearray) -> set[int]:
        """Fireable transitions adding a token to a place `marking` needs."""
        # Any other transition's predecessor is at least `marking`, so it adds nothing.
        producers = self._producers
        return {
            index
            for place, count in enumerate(marking)
            if count
            for index in producers[place]
            if fireable[index]
        }


def _backward_step(
    transition: Transition, complements: tuple[tuple[int, int], ...]
) -> _BackwardStep:
    post = dict(transition.post)
    pre_places = {p for p, _ in transition.pre}
    return _BackwardStep(
        reset_bounds=tuple((r, post.get(r, 0)) for r in transition.resets),
        empty=transition.empty,
        post=transition.post,
        pre=transition.pre,
        complements=tuple((a, b) for a, b in complements if a in pre_places or b in pre_places),
    )


def _index_by_place(size: int, arcs: Iterable[Counts]) -> tuple[tuple[int, ...], ...]:
    """For every place, the transitions whose arcs (pre or post) touch it."""
    index: list[list[int]] = [[] for _ in range(size)]
    for transition, counts in enumerate(arcs):
        for place, _ in counts:
            index[place].append(transition)
    return tuple(tuple(ts) for ts in index)


def _raise_ceiling(places: tuple[int, ...], ceiling: list[int], stack: list[int]) -> None:
    for place in places:
        if not ceiling[place]:
            ceiling[place] = _UNBOUNDED
            stack.append(place)


def _predecessor(marking: Vector, step: _BackwardStep) -> Vector | None:
    """The least marking from which the transition reaches at least `marking`, if any."""
    for place, bound in step.reset_bounds:
        if marking[place] > bound:
            return None
    for place in step.empty:
        if marking[place]:
            return None
    result = list(marking)
    # A reset place passed the bound check above, so this leaves it at 0, whatever it held.
    for place, count in step.post:
        result[place] = max(result[place] - count, 0)
    for place, count in step.pre:
        result[place] += count
    for a, b in step.complements:
        if result[a] + result[b] > 1:
            return None
    return tuple(result)


def _plus_one(base: Vector, place: int) -> Vector:
    marking = list(base)
    marking[place] += 1
    return tuple(marking)


def _shortfall(marking: Vector, source: Vector) -> int:
    """How many tokens `marking` needs beyond `source`."""
    return sum(needed - held for needed, held in zip(marking, source, strict=True) if needed > held)


def _at_most(small: Sequence[int], big: Sequence[int]) -> bool:
    return all(map(ge, big, small))


def _insert_minimal(basis: list[Vector], live: set[Vector], new: Vector) -> list[Vector]:
    """`basis` plus `new` (which no element of `basis` is below), without what `new` is below."""
    kept = []
    for marking in basis:
        if _at_most(new, marking):
            live.discard(marking)
        else:
            kept.append(marking)
    kept.append(new)
    live.add(new)
    return kept
