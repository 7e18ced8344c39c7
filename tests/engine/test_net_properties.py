"""Property tests: random small workflow nets driven through the engine's public API.

Each example builds a net (AND/XOR/OR splits and joins, dummy tasks, tasks whose work items
start themselves or wait to be started, sometimes a loop back to an earlier task and a
cancellation region), registers it, and drives it: routers choose from hypothesis data, and the
test starts, completes (sometimes fails or cancels) open work items in an order hypothesis
picks, until the workflow is finished or nothing is left to do. After every call it checks:
markings are never negative; each task's generation only grows, by one per `on_enabled`; a
finished workflow has no enabled or started task; a started task lives in a started workflow;
open work items belong to the current generation of an active task; and every task that is not
started is enabled exactly when its join holds (§17.3), OR-joins judged by an explicit forward
search over the state space of §17.5.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tasquencer as tq
from tasquencer import Builder

FINAL = ("completed", "failed", "canceled")
_names = itertools.count()


@dataclass
class NetSpec:
    """A random net: tasks in topological order, their outputs and the shape of each task."""

    tasks: list[str]
    kinds: dict[str, str]
    joins: dict[str, str]
    splits: dict[str, str]
    start_targets: list[str]
    # per task, its outputs: ("task", name) or ("condition", name)
    outputs: dict[str, list[tuple[str, str]]]
    back_target: str | None = None
    region: tuple[str, list[str], list[str]] | None = None
    conditions: list[str] = field(default_factory=list)


@st.composite
def net_specs(
    draw: st.DrawFn,
    *,
    loops: bool,
    regions: bool,
    joins: tuple[str, ...],
    force_loop: bool = False,
) -> NetSpec:
    n = draw(st.integers(2, 6))
    tasks = [f"t{i}" for i in range(n)]
    # "task": its work item starts itself; "manual": the driver starts it; "dummy"
    kinds = {t: draw(st.sampled_from(["task", "manual", "task", "dummy"])) for t in tasks}
    outputs: dict[str, list[tuple[str, str]]] = {t: [] for t in tasks}
    start_targets = ["t0"]
    if draw(st.booleans()) and n > 2:
        start_targets.append("t1")
    for i in range(1, n):
        if tasks[i] in start_targets:
            continue
        preds = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=2, unique=True))
        for p in preds:
            outputs[tasks[p]].append(("task", tasks[i]))
    for t in tasks:
        if not outputs[t]:
            outputs[t].append(("condition", "end"))
    presets: dict[str, int] = Counter(name for outs in outputs.values() for _, name in outs)
    back_target = None
    if force_loop or (loops and draw(st.booleans())):
        owner = draw(st.sampled_from(tasks[1:]))
        back_target = draw(st.sampled_from(tasks[: tasks.index(owner) + 1]))
        outputs[owner].append(("condition", "back"))
        presets[back_target] += 1
    join_of = {
        t: draw(st.sampled_from(joins)) if presets[t] + (t in start_targets) > 1 else "and"
        for t in tasks
    }
    if back_target is not None and draw(st.integers(0, 3)) < 3:
        # mostly a join the loop can re-enter through (an AND-join there waits forever)
        join_of[back_target] = draw(st.sampled_from(["xor", "or"]))
    split_of = {}
    for t in tasks:
        if back_target is not None and ("condition", "back") in outputs[t]:
            split_of[t] = "xor"
        else:
            split_of[t] = draw(st.sampled_from(["and", "xor", "or"]))
    conditions = ["start"]
    if back_target is not None:
        conditions.append("back")
    for t in tasks:
        conditions += [f"{t}__to__{name}" for kind, name in outputs[t] if kind == "task"]
    region = None
    if regions and draw(st.integers(0, 2)) == 0:
        owner = draw(st.sampled_from(tasks))
        others = [t for t in tasks if t != owner]
        region = (
            owner,
            draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else [],
            draw(st.lists(st.sampled_from(conditions), max_size=3, unique=True)),
        )
    return NetSpec(
        tasks,
        kinds,
        join_of,
        split_of,
        start_targets,
        outputs,
        back_target,
        region,
        conditions,
    )


def build(spec: NetSpec, name: str, log: list[tuple[str, int]], data: st.DataObject) -> Any:
    """The workflow of `spec`; on_enabled of every task is recorded in `log`."""

    def on_enabled(ctx: Any) -> None:
        log.append((ctx.task.name, ctx.task.generation))
        if ctx.work_item is not None:
            ctx.work_item.initialize()

    def dummy_enabled(ctx: Any) -> None:
        log.append((ctx.task.name, ctx.task.generation))

    def auto_start(ctx: Any) -> None:
        ctx.work_item.start()

    item = Builder.work_item("item").with_activities(on_initialized=auto_start)
    manual_item = Builder.work_item("item")

    def router(ctx: Any) -> Any:
        outs = spec.outputs[ctx.task.name]
        if spec.splits[ctx.task.name] == "xor":
            chosen = [outs[data.draw(st.integers(0, len(outs) - 1), label="xor route")]]
        else:
            mask = data.draw(
                st.lists(st.booleans(), min_size=len(outs), max_size=len(outs)), label="or route"
            )
            chosen = [o for o, keep in zip(outs, mask, strict=True) if keep] or [outs[0]]
        routes = [
            ctx.route.to_task(n) if kind == "task" else ctx.route.to_condition(n)
            for kind, n in chosen
        ]
        return routes[0] if spec.splits[ctx.task.name] == "xor" else routes

    wf = Builder.workflow(name).start_condition("start").end_condition("end")
    if spec.back_target is not None:
        wf = wf.condition("back")
    for t in spec.tasks:
        if spec.kinds[t] == "dummy":
            dummy = Builder.dummy_task().with_activities(on_enabled=dummy_enabled)
            dummy = dummy.with_join_type(spec.joins[t]).with_split_type(spec.splits[t])
            wf = wf.dummy_task(t, dummy)
        else:
            work_item = item if spec.kinds[t] == "task" else manual_item
            task = Builder.task(work_item).with_activities(on_enabled=on_enabled)
            task = task.with_join_type(spec.joins[t]).with_split_type(spec.splits[t])
            wf = wf.task(t, task)
    wf = wf.connect_condition("start", lambda to: [to.task(t) for t in spec.start_targets])
    for t in spec.tasks:

        def connect(to: Any, t: str = t) -> Any:
            for kind, target in spec.outputs[t]:
                to = to.task(target) if kind == "task" else to.condition(target)
            return to.route(router) if spec.splits[t] != "and" else to

        wf = wf.connect_task(t, connect)
    if spec.back_target is not None:
        wf = wf.connect_condition("back", lambda to: to.task(spec.back_target))
    if spec.region is not None:
        owner, region_tasks, region_conditions = spec.region

        def region(cr: Any) -> Any:
            for t in region_tasks:
                cr = cr.task(t)
            for c in region_conditions:
                cr = cr.condition(c)
            return cr

        wf = wf.with_cancellation_region(owner, region)
    return wf


# --- the join oracle: §17.3 and §17.5 computed independently of the engine ------------------


def presets_of(spec: NetSpec) -> dict[str, list[str]]:
    """Each task's input conditions in declaration order (how `build` declares the arcs)."""
    presets: dict[str, list[str]] = {t: [] for t in spec.tasks}
    for t in spec.start_targets:
        presets[t].append("start")
    for source in spec.tasks:
        for kind, target in spec.outputs[source]:
            if kind == "task":
                presets[target].append(f"{source}__to__{target}")
    if spec.back_target is not None:
        presets[spec.back_target].append("back")
    return presets


def postsets_of(spec: NetSpec) -> dict[str, list[str]]:
    return {
        t: [f"{t}__to__{n}" if kind == "task" else n for kind, n in spec.outputs[t]]
        for t in spec.tasks
    }


def local_join_holds(join: str, preset: list[str], marking: dict[str, int]) -> bool:
    if join == "and":
        return bool(preset) and all(marking[c] > 0 for c in preset)
    return any(marking[c] > 0 for c in preset)


_MAX_TOKENS = 4
_MAX_STATES = 20_000


def or_join_oracle(
    spec: NetSpec, join: str, marking: dict[str, int], started: frozenset[str]
) -> bool | None:
    """§17.5 by explicit forward search over (marking, started tasks); None if the search
    leaves the small bounded space it is meant for."""
    presets, postsets = presets_of(spec), postsets_of(spec)
    preset = presets[join]
    base = {c: marking[c] for c in preset if marking[c] > 0}
    if not base:
        return False
    empty = [c for c in preset if marking[c] == 0]
    if not empty:
        return True
    names = sorted(marking)
    region = {}
    if spec.region is not None:
        owner, region_tasks, region_conditions = spec.region
        region[owner] = ([t for t in region_tasks if t != owner], region_conditions)

    def successors(m: dict[str, int], running: frozenset[str]) -> list[Any]:
        found = []
        for t in spec.tasks:
            if t == join or t in running:
                continue
            pre = presets[t]
            if spec.joins[t] == "and":
                if not pre or any(m[c] == 0 for c in pre):
                    continue
                taken = list(pre)
            else:  # XOR, and any OR-join other than `join`: one token, first marked input
                marked = [c for c in pre if m[c] > 0]
                if not marked:
                    continue
                taken = marked[:1]
            after = dict(m)
            for c in taken:
                after[c] -= 1
            found.append((after, running | {t}))
        for t in running:
            after = dict(m)
            rest = set(running) - {t}
            cancel_tasks, clear = region.get(t, ([], []))
            rest -= set(cancel_tasks)
            for c in clear:
                after[c] = 0
            outs = postsets[t]
            if spec.splits[t] == "and":
                choices = [outs]
            elif spec.splits[t] == "xor":
                choices = [[o] for o in outs]
            else:
                choices = [
                    [o for o, keep in zip(outs, mask, strict=True) if keep]
                    for mask in itertools.product([False, True], repeat=len(outs))
                    if any(mask)
                ]
            for chosen in choices:
                produced = dict(after)
                for c in set(chosen):
                    produced[c] += 1
                found.append((produced, frozenset(rest)))
        return found

    def key(m: dict[str, int], running: frozenset[str]) -> Any:
        return (tuple(m[c] for c in names), running)

    stack = [(dict(marking), started)]
    seen = {key(*stack[0])}
    while stack:
        m, running = stack.pop()
        if all(m[c] >= n for c, n in base.items()) and any(m[q] > 0 for q in empty):
            return False
        for nxt in successors(m, running):
            if max(nxt[0].values()) > _MAX_TOKENS:
                return None
            k = key(*nxt)
            if k not in seen:
                seen.add(k)
                stack.append(nxt)
        if len(seen) > _MAX_STATES:
            return None
    return True


@dataclass
class Observer:
    """Checks the invariants after every call, remembering what it saw before."""

    api: Any
    wid: str
    spec: NetSpec
    log: list[tuple[str, int]]
    generations: dict[str, int] = field(default_factory=dict)
    state: str = "initialized"

    def check(self) -> Any:
        snap = self.api.get_workflow_snapshot(self.wid)
        # markings never negative
        assert all(m >= 0 for m in snap.conditions.values()), snap.conditions
        # generation only increases, by exactly one per on_enabled
        for name, task in snap.tasks.items():
            assert task.generation >= self.generations.get(name, 0), name
            enables = [g for n, g in self.log if n == name]
            assert enables == list(range(1, task.generation + 1)), (name, enables, task)
            self.generations[name] = task.generation
        active = {n for n, t in snap.tasks.items() if t.state in ("enabled", "started")}
        # a finished workflow has no enabled or started task, and stays finished
        if snap.state in FINAL:
            assert not active, (snap.state, active)
        if self.state in FINAL:
            assert snap.state == self.state
        # a started task lives in a started workflow
        if any(t.state == "started" for t in snap.tasks.values()):
            assert snap.state == "started", snap
        # a dummy task never rests enabled or started
        for name in active:
            assert self.spec.kinds[name] != "dummy", (name, snap.tasks[name])
        # enabledness follows the marking (§17.3); OR-joins by the §17.5 predicate
        if snap.state not in FINAL:
            self.check_joins(snap)
        # open work items belong to the current generation of an active task
        for item in snap.work_items:
            task = snap.tasks[item.task_name]
            assert 1 <= item.generation <= task.generation
            if item.state in ("initialized", "started"):
                assert item.generation == task.generation, (item, task)
                assert task.state in ("enabled", "started"), (item, task)
        self.state = snap.state
        return snap

    def check_joins(self, snap: Any) -> None:
        presets = presets_of(self.spec)
        marking = dict(snap.conditions)
        started = frozenset(n for n, t in snap.tasks.items() if t.state == "started")
        for name, task in snap.tasks.items():
            if task.state == "started":
                continue
            join = self.spec.joins[name]
            if join == "or":
                should = or_join_oracle(self.spec, name, marking, started)
                if should is None:
                    continue
            else:
                should = local_join_holds(join, presets[name], marking)
            if self.spec.kinds[name] == "dummy":
                # a dummy whose join holds fires at once; it never rests enabled
                assert not should, (name, task, marking, sorted(started))
            else:
                assert (task.state == "enabled") == should, (name, task, marking, sorted(started))


def drive(
    app: Any,
    data: st.DataObject,
    spec: NetSpec,
    *,
    actions: list[str],
    max_steps: int,
) -> Any:
    name = f"net{next(_names)}"
    log: list[tuple[str, int]] = []
    api = app.register(tq.versions(name).version("v1", build(spec, name, log, data))).api("v1")
    wid = api.internal_initialize_root_workflow()
    observer = Observer(api, wid, spec, log)
    snap = observer.check()
    for _ in range(max_steps):
        if snap.state in FINAL:
            break
        open_items = [w for w in snap.work_items if w.state in ("initialized", "started")]
        if not open_items:
            break
        item = data.draw(st.sampled_from(open_items), label="work item")
        if item.state == "initialized":
            choices = ["start", "start", "start", "cancel"] if "cancel" in actions else ["start"]
            action = data.draw(st.sampled_from(choices), label="action")
        else:
            action = data.draw(st.sampled_from(actions), label="action")
        if action == "start":
            api.internal_start_work_item(item.id)
        elif action == "complete":
            api.internal_complete_work_item(item.id)
        elif action == "fail":
            api.internal_fail_work_item(item.id)
        elif action == "cancel":
            api.internal_cancel_work_item(item.id)
        else:
            api.internal_cancel_root_workflow(wid)
        snap = observer.check()
    event(f"workflow {snap.state}")
    event(f"max generation {max(t.generation for t in snap.tasks.values())}")
    if any(spec.joins[t] == "or" and snap.tasks[t].generation for t in spec.tasks):
        event("an OR-join fired")
    return snap


_SETTINGS: Callable[[Any], Any] = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_random_nets_keep_markings_generations_and_states_consistent(app):
    actions = ["complete"] * 8 + ["fail", "cancel", "cancel_root"]

    @_SETTINGS
    @given(st.data())
    def run(data: st.DataObject) -> None:
        spec = data.draw(net_specs(loops=True, regions=True, joins=("and", "xor", "or")))
        drive(app, data, spec, actions=actions, max_steps=30)

    run()


def test_random_loops_keep_generations_in_step_with_on_enabled(app):
    """Nets with a loop back to an earlier task: tasks are enabled again and again, each time
    with the next generation and one on_enabled; work items stay per generation."""

    @_SETTINGS
    @given(st.data())
    def run(data: st.DataObject) -> None:
        spec = data.draw(
            net_specs(loops=True, regions=True, joins=("and", "xor", "or"), force_loop=True)
        )
        drive(app, data, spec, actions=["complete"], max_steps=40)

    run()


def test_acyclic_nets_with_only_xor_and_or_joins_always_complete(app):
    """No AND-join and no region: every token can move on, and an OR-join never waits for a
    branch that cannot deliver (§17.5), so completing work items always ends the workflow."""

    @_SETTINGS
    @given(st.data())
    def run(data: st.DataObject) -> None:
        spec = data.draw(net_specs(loops=False, regions=False, joins=("xor", "or")))
        snap = drive(app, data, spec, actions=["complete"], max_steps=400)
        assert snap.state == "completed", snap

    run()
