"""Backward coverability on reset nets, against forward search."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasquencer.net.coverability import ResetNet, Transition, Vector

PLACES = 4


def forward_coverable(transitions: Sequence[Transition], source: Vector, target: Vector) -> bool:
    """Explicit forward search; the nets drawn below never add tokens, so it terminates."""
    seen = {source}
    queue = deque([source])
    while queue:
        marking = queue.popleft()
        if all(m >= t for m, t in zip(marking, target, strict=True)):
            return True
        for transition in transitions:
            after = fire(transition, marking)
            if after is not None and after not in seen:
                seen.add(after)
                queue.append(after)
    return False


def fire(transition: Transition, marking: Vector) -> Vector | None:
    if any(marking[p] < n for p, n in transition.pre) or any(marking[p] for p in transition.empty):
        return None
    after = list(marking)
    for place, count in transition.pre:
        after[place] -= count
    for place in transition.resets:
        after[place] = 0
    for place, count in transition.post:
        after[place] += count
    return tuple(after)


def counts(draw: st.DrawFn, *, at_most: int) -> tuple[tuple[int, int], ...]:
    places = draw(st.lists(st.integers(0, PLACES - 1), max_size=3, unique=True))
    chosen = ((p, draw(st.integers(1, 2))) for p in places)
    kept, total = [], 0
    for place, count in chosen:
        if total + count <= at_most:
            kept.append((place, count))
            total += count
    return tuple(kept)


@st.composite
def transitions(draw: st.DrawFn) -> Transition:
    """A transition that never adds tokens overall (so forward search is finite)."""
    pre = counts(draw, at_most=4)
    post = counts(draw, at_most=sum(n for _, n in pre))
    resets = tuple(draw(st.lists(st.integers(0, PLACES - 1), max_size=2, unique=True)))
    return Transition(pre=pre, post=post, resets=resets)


markings = st.tuples(*(st.integers(0, 2) for _ in range(PLACES)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(transitions(), min_size=1, max_size=5), markings, markings)
def test_backward_coverability_matches_forward_search(
    net: list[Transition], source: Vector, target: Vector
) -> None:
    expected = forward_coverable(net, source, target)
    assert ResetNet(PLACES, net).coverable(source, [target]) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(transitions(), min_size=1, max_size=5), markings, markings)
def test_producing_on_all_outputs_answers_like_one_transition_per_subset(
    net: list[Transition], source: Vector, target: Vector
) -> None:
    """Why or_join gives an OR split a single completion transition, on every output."""
    subsets = [
        Transition(pre=t.pre, post=chosen, resets=t.resets)
        for t in net
        for size in range(1, len(t.post) + 1)
        for chosen in itertools.combinations(t.post, size)
    ]
    full = ResetNet(PLACES, net).coverable(source, [target])
    assert ResetNet(PLACES, [*net, *subsets]).coverable(source, [target]) == full


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(transitions(), min_size=1, max_size=5), markings, st.data())
def test_one_more_token_answers_like_the_targets_it_stands_for(
    net: list[Transition], source: Vector, data: st.DataObject
) -> None:
    base = tuple(data.draw(st.integers(0, held)) for held in source)
    empty = [p for p in range(PLACES) if not source[p]]
    places = data.draw(st.lists(st.sampled_from(empty), unique=True) if empty else st.just([]))
    targets = [tuple(n + (p == q) for q, n in enumerate(base)) for p in places]
    reset_net = ResetNet(PLACES, net)
    assert reset_net.coverable_one_more(source, base, places) == reset_net.coverable(
        source, targets
    )
    assert reset_net.coverable(source, targets) == any(
        forward_coverable(net, source, t) for t in targets
    )


def test_reset_place_above_what_the_transition_gives_back_cannot_be_covered() -> None:
    clear = Transition(pre=((0, 1),), post=((1, 1),), resets=(1,))
    net = ResetNet(2, [clear])
    assert net.coverable((1, 0), [(0, 1)])
    assert not net.coverable((2, 1), [(0, 2)])


def test_guarded_family_takes_the_first_marked_input() -> None:
    # Places: c1, c2, idle, busy. One start per input; the one on c2 only while c1 is empty.
    # (A guard alone breaks monotonicity; the family together keeps it.)
    on_c1 = Transition(pre=((0, 1), (2, 1)), post=((3, 1),))
    on_c2 = Transition(pre=((1, 1), (2, 1)), post=((3, 1),), empty=(0,))
    net = ResetNet(4, [on_c1, on_c2])
    assert net.coverable((1, 1, 1, 0), [(0, 1, 0, 1)])
    assert not net.coverable((1, 1, 1, 0), [(1, 0, 0, 1)])
    assert net.coverable((0, 1, 1, 0), [(0, 0, 0, 1)])


def test_busy_idle_pair_allows_one_run_at_a_time() -> None:
    # Place 0 = busy, 1 = idle: starting needs idle, so a second start needs a completion.
    start = Transition(pre=((1, 1), (2, 1)), post=((0, 1),))
    complete = Transition(pre=((0, 1),), post=((1, 1), (3, 1)), resets=(2,))
    net = ResetNet(4, [start, complete], complements=[(0, 1)])
    assert net.coverable((0, 1, 2, 0), [(0, 0, 0, 1)])
    assert not net.coverable((0, 1, 2, 0), [(0, 0, 0, 2)])
