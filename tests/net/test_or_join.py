"""OR-join enabledness (docs/semantics.md, sections 4 and 17.5), checked against a brute-force
forward search."""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tasquencer.net import or_join
from tasquencer.net.model import JOIN_TYPES, SPLIT_TYPES, Net, Region, TaskShape
from tasquencer.net.or_join import or_join_enabled

State = tuple[tuple[int, ...], frozenset[str]]

# Random nets per property test. In mutation runs the subtlest single-instance mistakes took a
# few thousand nets to show up (the hand-written examples above catch them at once), hence the
# deeper `slow` variants.
_EXAMPLES = 500
_SLOW_EXAMPLES = 5_000
_STATES_PER_NET = 40

# --- the oracle: explicit forward search over the moves of §17.5 ------------------------------


def brute_force_enabled(
    net: Net,
    join: str,
    marking: Mapping[str, int],
    started: Collection[str],
    *,
    max_states: int = 20_000,
    max_tokens: int = 4,
) -> bool | None:
    """The §17.5 predicate by breadth-first search; None when the search had to give up."""
    index = {c: i for i, c in enumerate(net.conditions)}
    preset = net.presets[join]
    required = [(index[c], marking.get(c, 0)) for c in preset if marking.get(c, 0) > 0]
    empty = [index[c] for c in preset if marking.get(c, 0) == 0]
    if not required:
        return False

    def covers(state: State) -> bool:
        tokens = state[0]
        return all(tokens[c] >= n for c, n in required) and any(tokens[q] for q in empty)

    initial: State = (tuple(marking.get(c, 0) for c in net.conditions), frozenset(started))
    seen = {initial}
    queue = deque([initial])
    while queue:
        for successor in successors(net, join, queue.popleft(), index):
            if successor in seen:
                continue
            if covers(successor):
                return False
            if max(successor[0], default=0) > max_tokens or len(seen) >= max_states:
                return None
            seen.add(successor)
            queue.append(successor)
    return True


def successors(net: Net, join: str, state: State, index: Mapping[str, int]) -> Iterator[State]:
    tokens, started = state
    for task in net.tasks:
        if task in started:
            yield from _completions(net, task, tokens, started, index)
        elif task != join:
            consumed = _consumed_on_start(net, task, tokens, index)
            if consumed is not None:
                after = list(tokens)
                for c in consumed:
                    after[c] -= 1
                yield tuple(after), started | {task}


def reachable_states(net: Net, join: str, *, limit: int) -> list[State]:
    """Up to `limit` states reachable from one token on start (J taking one token, as an XOR)."""
    index = {c: i for i, c in enumerate(net.conditions)}
    initial: State = (tuple(int(c == net.start) for c in net.conditions), frozenset())
    seen = {initial}
    queue = deque([initial])
    while queue and len(seen) < limit:
        for successor in successors(net, "", queue.popleft(), index):
            if successor not in seen and len(seen) < limit:
                seen.add(successor)
                queue.append(successor)
    return list(seen)


def _consumed_on_start(
    net: Net, task: str, tokens: Sequence[int], index: Mapping[str, int]
) -> list[int] | None:
    inputs = [index[c] for c in net.presets[task]]
    if net.joins[task] == "and":
        return inputs if all(tokens[c] for c in inputs) else None
    marked = [c for c in inputs if tokens[c]]
    return marked[:1] or None


def _completions(
    net: Net, task: str, tokens: tuple[int, ...], started: frozenset[str], index: Mapping[str, int]
) -> Iterator[State]:
    region = net.region(task)
    still_started = started - {task} - set(region.tasks)
    cleared = list(tokens)
    for c in region.conditions:
        cleared[index[c]] = 0
    outputs = [index[c] for c in net.postsets[task]]
    for chosen in _routes(net.splits[task], outputs):
        after = list(cleared)
        for c in chosen:
            after[c] += 1
        yield tuple(after), still_started


def _routes(split: str, outputs: list[int]) -> list[Sequence[int]]:
    if split == "and":
        return [outputs]
    if split == "xor":
        return [[c] for c in outputs]
    return [s for r in range(1, len(outputs) + 1) for s in itertools.combinations(outputs, r)]


def decide(net: Net, join: str, marking: Mapping[str, int], started: Collection[str] = ()) -> bool:
    """`or_join_enabled`, after checking that the oracle agrees."""
    full = {c: marking.get(c, 0) for c in net.conditions}
    expected = brute_force_enabled(net, join, full, started)
    assert expected is not None, "the oracle gave up on a hand-written example"
    actual = or_join_enabled(net, join, full, started)
    assert actual == expected
    return actual


def build(
    tasks: Sequence[TaskShape],
    arcs: Sequence[tuple[str, str]],
    conditions: Sequence[str],
    regions: Mapping[str, Region] | None = None,
) -> Net:
    return Net.build(
        "wf",
        start="start",
        end="end",
        conditions=["start", "end", *conditions],
        tasks=tasks,
        arcs=arcs,
        regions=regions,
    )


# --- the pinning example of §17.5 ------------------------------------------------------------


@pytest.fixture(params=JOIN_TYPES)
def pinning_net(request: pytest.FixtureRequest) -> Net:
    """The example of §17.5; C has one input, so its join type must not matter."""
    return build(
        [
            TaskShape("A"),
            TaskShape("B"),
            TaskShape("C", join=request.param),
            TaskShape("D"),
            TaskShape("E", join="or"),
        ],
        [
            ("start", "A"),
            ("A", "c1"),
            ("c1", "B"),
            ("B", "c2"),
            ("c2", "C"),
            ("c2", "E"),
            ("C", "c3"),
            ("c3", "D"),
            ("c3", "E"),
            ("D", "c1"),
            ("D", "c2"),
            ("E", "end"),
        ],
        ["c1", "c2", "c3"],
        {"C": Region(tasks=("B",), conditions=("c1", "c2"))},
    )


def test_single_instance_rule_lets_the_or_join_fire(pinning_net: Net) -> None:
    # Marking c2 and c3 together would need a second C running while the first completes.
    assert decide(pinning_net, "E", {"c1": 1, "c2": 1}) is True


def test_or_join_waits_while_a_path_can_still_mark_its_empty_input(pinning_net: Net) -> None:
    assert decide(pinning_net, "E", {"c1": 1, "c3": 1}) is False


def test_region_that_clears_the_marked_input_lets_the_or_join_fire(pinning_net: Net) -> None:
    # C will mark c3, but its completion clears c2 at the same time.
    assert decide(pinning_net, "E", {"c2": 1}, {"C"}) is True


# --- OR-split into OR-join -------------------------------------------------------------------


@pytest.fixture
def or_split_net() -> Net:
    branches = range(3)
    return build(
        [
            TaskShape("A", split="or"),
            *(TaskShape(f"B{i}") for i in branches),
            TaskShape("J", join="or"),
        ],
        [
            ("start", "A"),
            *((("A", f"p{i}")) for i in branches),
            *(((f"p{i}", f"B{i}")) for i in branches),
            *(((f"B{i}", f"q{i}")) for i in branches),
            *(((f"q{i}", "J")) for i in branches),
            ("J", "end"),
        ],
        [*(f"p{i}" for i in branches), *(f"q{i}" for i in branches)],
    )


def test_or_join_waits_for_a_chosen_branch_not_yet_started(or_split_net: Net) -> None:
    assert decide(or_split_net, "J", {"q0": 1, "p1": 1}) is False


def test_or_join_waits_for_a_started_branch(or_split_net: Net) -> None:
    assert decide(or_split_net, "J", {"q0": 1}, {"B1"}) is False


def test_or_join_fires_when_every_chosen_branch_is_done(or_split_net: Net) -> None:
    assert decide(or_split_net, "J", {"q0": 1, "q1": 1}) is True


def test_or_join_waits_while_the_split_has_not_chosen(or_split_net: Net) -> None:
    assert decide(or_split_net, "J", {"q0": 1}, {"A"}) is False


def test_or_join_with_no_marked_input_is_not_enabled(or_split_net: Net) -> None:
    assert or_join_enabled(or_split_net, "J", {"p0": 1, "p1": 1}, ()) is False


def test_or_join_with_every_input_marked_is_enabled(or_split_net: Net) -> None:
    marking = {"q0": 1, "q1": 1, "q2": 1, "start": 1}
    assert or_join_enabled(or_split_net, "J", marking, ("A",)) is True


# --- a path that dies away from the OR-join's inputs -----------------------------------------


@pytest.fixture
def dying_path_net() -> Net:
    return build(
        [
            TaskShape("A"),
            TaskShape("X", split="xor"),
            TaskShape("Y"),
            TaskShape("Z"),
            TaskShape("J", join="or"),
        ],
        [
            ("start", "A"),
            ("A", "c1"),
            ("A", "x"),
            ("x", "X"),
            ("X", "y"),
            ("X", "z"),
            ("y", "Y"),
            ("Y", "c2"),
            ("z", "Z"),
            ("Z", "end"),
            ("c1", "J"),
            ("c2", "J"),
            ("J", "end"),
        ],
        ["c1", "c2", "x", "y", "z"],
    )


def test_or_join_waits_while_an_upstream_choice_is_open(dying_path_net: Net) -> None:
    assert decide(dying_path_net, "J", {"c1": 1, "x": 1}) is False
    assert decide(dying_path_net, "J", {"c1": 1}, {"X"}) is False


def test_or_join_fires_once_an_upstream_choice_routed_away(dying_path_net: Net) -> None:
    assert decide(dying_path_net, "J", {"c1": 1, "z": 1}) is True
    assert decide(dying_path_net, "J", {"c1": 1}, {"Z"}) is True


# --- a cancellation region on another branch -------------------------------------------------


@pytest.fixture
def unrelated_region_net() -> Net:
    return build(
        [TaskShape("A"), TaskShape("X"), TaskShape("J", join="or"), TaskShape("W")],
        [
            ("start", "A"),
            ("A", "c1"),
            ("A", "x"),
            ("x", "X"),
            ("X", "c2"),
            ("c1", "J"),
            ("c2", "J"),
            ("J", "end"),
            ("J", "z"),
            ("z", "W"),
            ("W", "end"),
        ],
        ["c1", "c2", "x", "z"],
        {"X": Region(conditions=("z",))},
    )


def test_region_over_an_empty_condition_does_not_make_the_or_join_fire_early(
    unrelated_region_net: Net,
) -> None:
    assert decide(unrelated_region_net, "J", {"c1": 1, "x": 1}) is False
    assert decide(unrelated_region_net, "J", {"c1": 1}, {"X"}) is False


# --- loops -----------------------------------------------------------------------------------


@pytest.fixture
def loop_net() -> Net:
    # L loops back through M or leaves towards J's input b; K circles without reaching it.
    return build(
        [
            TaskShape("A"),
            TaskShape("L", split="xor"),
            TaskShape("M"),
            TaskShape("K"),
            TaskShape("J", join="or"),
        ],
        [
            ("start", "A"),
            ("A", "a"),
            ("A", "p"),
            ("A", "k"),
            ("p", "L"),
            ("L", "p2"),
            ("L", "b"),
            ("p2", "M"),
            ("M", "p"),
            ("k", "K"),
            ("K", "k"),
            ("a", "J"),
            ("b", "J"),
            ("J", "end"),
        ],
        ["a", "b", "p", "p2", "k"],
    )


def test_or_join_waits_for_a_token_that_can_come_back_around(loop_net: Net) -> None:
    assert decide(loop_net, "J", {"a": 1, "p2": 1, "k": 1}) is False
    assert decide(loop_net, "J", {"a": 1}, {"M"}) is False


def test_or_join_ignores_a_loop_that_never_reaches_it(loop_net: Net) -> None:
    assert decide(loop_net, "J", {"a": 1, "k": 1}) is True
    assert decide(loop_net, "J", {"a": 1}, {"K"}) is True


# --- token counts ----------------------------------------------------------------------------


@pytest.fixture
def counting_net() -> Net:
    # K moves a token from a to b; P adds one to a.
    return build(
        [TaskShape("A"), TaskShape("K"), TaskShape("P"), TaskShape("J", join="or")],
        [
            ("start", "A"),
            ("A", "a"),
            ("A", "p"),
            ("a", "K"),
            ("K", "b"),
            ("p", "P"),
            ("P", "a"),
            ("a", "J"),
            ("b", "J"),
            ("J", "end"),
        ],
        ["a", "b", "p"],
    )


def test_or_join_keeps_token_counts(counting_net: Net) -> None:
    # Marking b costs one of a's two tokens, so a never holds 2 again alongside b.
    assert decide(counting_net, "J", {"a": 2}) is True
    # One token fewer is a different question: a=1 with b=1 is reachable.
    assert decide(counting_net, "J", {"a": 1}, {"K"}) is False


def test_or_join_counts_tokens_that_can_refill_an_input(counting_net: Net) -> None:
    assert decide(counting_net, "J", {"a": 1, "p": 1}) is False
    assert decide(counting_net, "J", {"a": 2, "p": 1}) is False


# --- other OR-joins and the cache ------------------------------------------------------------


@pytest.mark.parametrize(("first", "second", "enabled"), [("c1", "c2", True), ("c2", "c1", False)])
def test_xor_join_consumes_its_first_marked_input_in_the_analysis(
    first: str, second: str, enabled: bool
) -> None:
    # Taking c1 (J's marked input) to mark b never leaves c1 marked; taking c2 does.
    net = build(
        [TaskShape("A"), TaskShape("T", join="xor"), TaskShape("J", join="or")],
        [
            ("start", "A"),
            ("A", "c1"),
            ("A", "c2"),
            (first, "T"),
            (second, "T"),
            ("T", "b"),
            ("c1", "J"),
            ("b", "J"),
            ("J", "end"),
        ],
        ["c1", "c2", "b"],
    )
    assert decide(net, "J", {"c1": 1, "c2": 1}) is enabled


def test_a_started_or_join_may_still_complete_into_its_own_input() -> None:
    net = build(
        [TaskShape("A"), TaskShape("J", join="or")],
        [("start", "A"), ("A", "a"), ("a", "J"), ("b", "J"), ("J", "b"), ("J", "end")],
        ["a", "b"],
    )
    assert decide(net, "J", {"a": 1}, {"J"}) is False
    assert decide(net, "J", {"a": 1}) is True


def test_another_or_join_is_treated_as_an_xor_join() -> None:
    # O could wait for v in the exact semantics; as an XOR-join it starts on u alone.
    net = build(
        [
            TaskShape("A"),
            TaskShape("O", join="or"),
            TaskShape("V"),
            TaskShape("J", join="or"),
        ],
        [
            ("start", "A"),
            ("A", "u"),
            ("A", "a"),
            ("u", "O"),
            ("v", "O"),
            ("O", "b"),
            ("a", "V"),
            ("V", "v"),
            ("a", "J"),
            ("b", "J"),
            ("J", "end"),
        ],
        ["u", "v", "a", "b"],
    )
    assert decide(net, "J", {"u": 1, "a": 1}) is False


def test_answers_follow_the_state_not_the_cache(or_split_net: Net) -> None:
    for _ in range(2):
        assert or_join_enabled(or_split_net, "J", {"q0": 1, "p1": 1}, ()) is False
        assert or_join_enabled(or_split_net, "J", {"q0": 1, "q1": 1}, ()) is True
        assert or_join_enabled(or_split_net, "J", {"q0": 1}, ["B2"]) is False
        assert or_join_enabled(or_split_net, "J", {"q0": 1}, ["B0"]) is True


def test_prepare_builds_each_or_join_once_before_any_decision(
    or_split_net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = or_join._OrJoinAnalysis.__init__

    def counting(self: object, net: Net, join: str) -> None:
        built.append(join)
        build(self, net, join)  # type: ignore[arg-type]

    monkeypatch.setattr(or_join._OrJoinAnalysis, "__init__", counting)
    or_join.prepare(or_split_net)
    or_join.prepare(or_split_net)
    assert built == ["J"]
    assert or_join_enabled(or_split_net, "J", {"q0": 1, "q1": 1}, ()) is True
    assert or_join_enabled(or_split_net, "J", {"q0": 1}, ["B2"]) is False
    assert built == ["J"]


# --- property test: random nets and states against the oracle --------------------------------


@st.composite
def nets_with_or_join(draw: st.DrawFn) -> tuple[Net, str]:
    """A small net Net.build accepts, whose last task is an OR-join with two or three inputs.

    Every condition gets a first producer among the tasks before the last; the i-th task's
    first input is `start` or a condition whose first producer comes before it, so everything
    is reachable. Half the nets keep every arc going forward in that order (acyclic, hence
    bounded); the other half may loop.
    """
    n_tasks = draw(st.integers(2, 6))
    tasks = [f"t{i}" for i in range(n_tasks)]
    join = tasks[-1]
    plain = [f"c{i}" for i in range(draw(st.integers(1, 4)))]
    inputs = ["start", *plain]
    acyclic = draw(st.booleans())
    rank = {"start": -1, "end": n_tasks}
    rank.update({c: draw(st.integers(0, n_tasks - 2)) for c in plain})

    def forward(source: str, target: str) -> bool:
        if source in tasks:
            return tasks.index(source) <= rank[target]
        return rank[source] < tasks.index(target)

    arcs = [(tasks[rank[c]], c) for c in plain]
    arcs.append((draw(st.sampled_from(tasks)), "end"))
    for i, task in enumerate(tasks[:-1]):
        arcs.append((draw(st.sampled_from([c for c in inputs if rank[c] < i])), task))
    arcs += [
        (c, join)
        for c in draw(st.lists(st.sampled_from(inputs), min_size=2, max_size=3, unique=True))
    ]
    extra = draw(st.lists(st.tuples(st.sampled_from(inputs), st.sampled_from(tasks)), max_size=5))
    extra += draw(
        st.lists(st.tuples(st.sampled_from(tasks), st.sampled_from([*inputs, "end"])), max_size=5)
    )
    arcs += [arc for arc in extra if not acyclic or forward(*arc)]
    arcs = draw(st.permutations(arcs))

    shapes = [
        TaskShape(
            t,
            join="or" if t == join else draw(st.sampled_from(JOIN_TYPES)),
            split=draw(st.sampled_from(SPLIT_TYPES)),
        )
        for t in tasks
    ]
    regions = {
        t: Region(
            tasks=tuple(draw(st.lists(st.sampled_from(tasks), max_size=3))),
            conditions=tuple(draw(st.lists(st.sampled_from(inputs), max_size=3))),
        )
        for t in draw(st.lists(st.sampled_from(tasks), max_size=3, unique=True))
    }
    return build(shapes, arcs, plain, regions), join


def random_state(rng: random.Random, net: Net, join: str) -> tuple[dict[str, int], frozenset[str]]:
    """A state with some input of `join` marked and, when it has two, one input empty."""
    preset = net.presets[join]
    marking = {c: rng.choice((0, 0, 1, 1, 2, 3)) for c in net.conditions}
    empty = rng.sample(preset, rng.randint(1, len(preset) - 1)) if len(preset) > 1 else []
    for condition in preset:
        marking[condition] = 0 if condition in empty else rng.randint(1, 2)
    started = frozenset(rng.sample(net.tasks, rng.randint(0, min(4, len(net.tasks)))))
    return marking, started


def check_random_states(net: Net, join: str, seed: int) -> None:
    """Many states per net, from a plain seeded generator (drawing each from hypothesis is slow)."""
    rng = random.Random(seed)
    compared = 0
    for _ in range(_STATES_PER_NET):
        marking, started = random_state(rng, net, join)
        expected = brute_force_enabled(net, join, marking, started)
        if expected is not None:
            event(f"enabled={expected}")
            actual = or_join_enabled(net, join, marking, started)
            assert actual == expected, f"state {marking}, started {sorted(started)}"
            compared += 1
    assume(compared > 0)


def check_reachable_states(net: Net, join: str) -> None:
    """The comparison on every state a run from the start condition can visit."""
    compared = 0
    for tokens, started in reachable_states(net, join, limit=300):
        marking = dict(zip(net.conditions, tokens, strict=True))
        if join in started or all(marking[c] for c in net.presets[join]):
            continue
        expected = brute_force_enabled(net, join, marking, started, max_states=5_000)
        if expected is not None:
            event(f"enabled={expected}")
            assert or_join_enabled(net, join, marking, started) == expected
            compared += 1
    assume(compared > 0)


_PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(_PROPERTY, max_examples=_EXAMPLES)
@given(nets_with_or_join(), st.integers(0, 2**32))
def test_or_join_matches_forward_search_on_random_states(
    net_and_join: tuple[Net, str], seed: int
) -> None:
    check_random_states(*net_and_join, seed)


@settings(_PROPERTY, max_examples=_EXAMPLES // 2)
@given(nets_with_or_join())
def test_or_join_matches_forward_search_on_reachable_states(net_and_join: tuple[Net, str]) -> None:
    check_reachable_states(*net_and_join)


@pytest.mark.slow
@settings(_PROPERTY, max_examples=_SLOW_EXAMPLES)
@given(nets_with_or_join(), st.integers(0, 2**32))
def test_or_join_matches_forward_search_on_many_random_states(
    net_and_join: tuple[Net, str], seed: int
) -> None:
    check_random_states(*net_and_join, seed)


@pytest.mark.slow
@settings(_PROPERTY, max_examples=_SLOW_EXAMPLES // 2)
@given(nets_with_or_join())
def test_or_join_matches_forward_search_on_many_reachable_states(
    net_and_join: tuple[Net, str],
) -> None:
    check_reachable_states(*net_and_join)
