"""OR-join enabledness: the exact predicate of docs/semantics.md, section 4.

OR-join J with preset X is enabled in the abstract state S = (marking, started tasks) iff some
condition of X is marked and, for no condition q of X that S leaves empty, a state reachable
from S covers W_q = (S's marking restricted to X) + one token on q.

Reachability is decided by backward coverability (`coverability.ResetNet`) on a reset net with
one place per condition and a busy and an idle place per task (busy + idle == 1, which keeps a
started task from starting again):

* start of T != J (J never starts). AND join: takes every input and idle_T, gives busy_T. XOR
  join, and any OR-join other than J (the one approximation of the rule): one transition per input
  c_i taking c_i and idle_T, allowed only while c_1..c_{i-1} are empty, so the first marked
  input is consumed. The family stays monotone: with more tokens T still starts, at worst
  consuming an earlier input, and what is left is still at least as large.
* completion of T (J included, should S have it started): takes busy_T; resets the region's
  conditions and busy_X, idle_X of every region task X; gives the chosen outputs, idle_T and
  idle_X (a cancelled task is idle again). XOR split: one transition per output. OR split: see
  `_completions`.

Whatever does not depend on S is built once per (net, J) and kept in `net.cache`: the
transitions that can bring a token into X (directly or through other transitions; the rest only
take tokens away from places the question needs) and the numbering of their places. Answers
are kept in a bounded LRU per J, keyed by S restricted to those places, which is all they
depend on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Set
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from tasquencer.net.coverability import ResetNet, Transition, Vector
from tasquencer.net.model import Net

_ANSWERS_PER_JOIN = 1024
_CACHE_KEY = "or_join"

Place = tuple[Literal["condition", "busy", "idle"], str]


def or_join_enabled(
    net: Net, task: str, marking: Mapping[str, int], started: Collection[str]
) -> bool:
    """Whether OR-join `task` may be enabled in the state (`marking`, `started`)."""
    preset = net.presets[task]
    marked = sum(1 for c in preset if marking.get(c, 0) > 0)
    if marked == 0:
        return False
    if marked == len(preset):
        return True
    return _analysis(net, task).enabled(marking, started)


@dataclass(frozen=True, slots=True)
class _Move:
    """A reset-net transition over named places, before restriction and numbering."""

    pre: tuple[Place, ...]
    post: tuple[Place, ...]
    resets: tuple[Place, ...] = ()
    empty: tuple[Place, ...] = ()


class _OrJoinAnalysis:
    """The reset net deciding one OR-join, restricted to what can feed its preset."""

    def __init__(self, net: Net, join: str) -> None:
        preset = [_condition(c) for c in net.presets[join]]
        moves = _feeding(_moves(net, join), preset)
        numbers = _number_places(net, {*preset, *(p for m in moves for p in m.pre)})
        self._size = len(numbers)
        self._reset_net = ResetNet(
            self._size,
            [_numbered(m, numbers) for m in moves],
            complements=[
                (numbers[_busy(t)], numbers[_idle(t)])
                for t in net.tasks
                if _busy(t) in numbers and _idle(t) in numbers
            ],
        )
        self._preset = tuple(numbers[p] for p in preset)
        self._conditions = _numbered_names(net.conditions, _condition, numbers)
        self._busy = _numbered_names(net.tasks, _busy, numbers)
        self._idle = _numbered_names(net.tasks, _idle, numbers)
        self._answer: Callable[[Vector], bool] = lru_cache(maxsize=_ANSWERS_PER_JOIN)(self._decide)

    def enabled(self, marking: Mapping[str, int], started: Collection[str]) -> bool:
        return self._answer(self._encode(marking, started))

    def _encode(self, marking: Mapping[str, int], started: Collection[str]) -> Vector:
        if not isinstance(started, Set):
            started = frozenset(started)
        state = [0] * self._size
        for condition, place in self._conditions:
            state[place] = marking.get(condition, 0)
        for task, place in self._busy:
            if task in started:
                state[place] = 1
        for task, place in self._idle:
            if task not in started:
                state[place] = 1
        return tuple(state)

    def _decide(self, state: Vector) -> bool:
        base = [0] * self._size
        empty = []
        for place in self._preset:
            if state[place]:
                base[place] = state[place]
            else:
                empty.append(place)
        return not self._reset_net.coverable_one_more(state, tuple(base), empty)


def prepare(net: Net) -> None:
    """Build the analysis of every OR-join of `net` now (at `register`), not on the first
    decision of some call."""
    for task in net.tasks:
        if net.joins[task] == "or":
            _analysis(net, task)


def _analysis(net: Net, join: str) -> _OrJoinAnalysis:
    key = (_CACHE_KEY, join)
    cached = net.cache.get(key)
    if isinstance(cached, _OrJoinAnalysis):
        return cached
    analysis = _OrJoinAnalysis(net, join)
    net.cache[key] = analysis
    return analysis


def _moves(net: Net, join: str) -> list[_Move]:
    moves: list[_Move] = []
    for task in net.tasks:
        if task != join:
            moves.extend(_starts(net, task))
        moves.extend(_completions(net, task))
    return moves


def _starts(net: Net, task: str) -> list[_Move]:
    inputs = tuple(_condition(c) for c in net.presets[task])
    idle, busy = _idle(task), _busy(task)
    if net.joins[task] == "and":
        return [_Move((*inputs, idle), (busy,))]
    return [_Move((c, idle), (busy,), empty=inputs[:i]) for i, c in enumerate(inputs)]


def _completions(net: Net, task: str) -> list[_Move]:
    outputs = tuple(_condition(c) for c in net.postsets[task])
    region = net.region(task)
    resets = (
        *map(_condition, region.conditions),
        *(p for x in region.tasks for p in (_busy(x), _idle(x))),
    )
    restored = (_idle(task), *map(_idle, region.tasks))
    pre = (_busy(task),)
    split = net.splits[task]
    if split == "xor":
        return [_Move(pre, (o, *restored), resets) for o in outputs]
    if split == "or" and not outputs:
        return []
    # An OR split gets one transition, on every output: coverability is monotone, so the
    # predecessor through the full output set is below the one through any subset and the
    # subsets would add nothing to the basis.
    return [_Move(pre, (*outputs, *restored), resets)]


def _feeding(moves: list[_Move], preset: list[Place]) -> list[_Move]:
    """The moves that can bring a token into `preset`, directly or through other moves."""
    producers: dict[Place, list[int]] = {}
    for index, move in enumerate(moves):
        for place in move.post:
            producers.setdefault(place, []).append(index)
    needed = set(preset)
    stack = list(preset)
    kept: set[int] = set()
    while stack:
        for index in producers.get(stack.pop(), ()):
            if index not in kept:
                kept.add(index)
                fresh = [p for p in moves[index].pre if p not in needed]
                needed.update(fresh)
                stack.extend(fresh)
    return [m for i, m in enumerate(moves) if i in kept]


def _number_places(net: Net, places: set[Place]) -> dict[Place, int]:
    """Numbers for `places`, in definition order: conditions, then each task's busy and idle."""
    order = (
        *map(_condition, net.conditions),
        *(p for t in net.tasks for p in (_busy(t), _idle(t))),
    )
    return {p: i for i, p in enumerate(p for p in order if p in places)}


def _numbered(move: _Move, numbers: Mapping[Place, int]) -> Transition:
    """`move` over place numbers; arcs to places outside `numbers` are irrelevant and dropped."""
    return Transition(
        pre=_counts(move.pre, numbers),
        post=_counts(move.post, numbers),
        resets=tuple(numbers[p] for p in move.resets if p in numbers),
        empty=tuple(numbers[p] for p in move.empty if p in numbers),
    )


def _counts(places: Iterable[Place], numbers: Mapping[Place, int]) -> tuple[tuple[int, int], ...]:
    return tuple(Counter(numbers[p] for p in places if p in numbers).items())


def _numbered_names(
    names: Iterable[str], place: Callable[[str], Place], numbers: Mapping[Place, int]
) -> tuple[tuple[str, int], ...]:
    return tuple((n, numbers[place(n)]) for n in names if place(n) in numbers)


def _condition(name: str) -> Place:
    return ("condition", name)


def _busy(task: str) -> Place:
    return ("busy", task)


def _idle(task: str) -> Place:
    return ("idle", task)
