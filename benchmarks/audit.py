"""What the audit trail costs a completion, and how fast a past state is reconstructed.

    .venv/bin/python benchmarks/audit.py              # n=300 completions a side, 3 rounds
    .venv/bin/python benchmarks/audit.py --quick      # seconds (the smoke test)

Two apps in one process on two SQLite files with synchronous=OFF (so fsync weather does not
drown the CPU being measured), the same 10-task sequence registered on both: one with the
default `tq.Audit()`, one with `audit=None`. Each round prepares instances on both, then times
`api.internal_complete_work_item(id)` in alternating batches of 25 (off, on, off, on...), so
both sides run under the same machine load; CPU is `time.process_time` per completion, and the
ratio on/off is taken within the round (goal: at most 1.25).

Then one case of a looping workflow is driven until its trace holds at least 10,000 spans, and
`api.get_workflow_state_at(id, when)` is timed at times spread over its life (goal: p50 under
5 ms); each answer is checked against the snapshot taken at that time. For scale, the live
`get_workflow_snapshot` of the same case is timed too (it lists the same 1,100 work items).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import build_workflow

import tasquencer as tq
from tasquencer import Builder

BATCH = 25


def seq10(ids: list[str]) -> tq.builder.WorkflowBuilder:
    """engine_vs_peers' seq10: ten tasks in a row, each work item starting itself."""
    return build_workflow("seq10", ids, auto_start=True)


def loop(ids: list[str], rounds: int) -> tq.builder.WorkflowBuilder:
    def started(ctx: tq.WorkItemActivityContext) -> None:
        ids.append(ctx.work_item.id)
        ctx.work_item.start()

    def create(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize()

    def again(ctx: tq.RouterContext) -> tq.Route:
        if ctx.task.generation < rounds:
            return ctx.route.to_task("work")
        return ctx.route.to_condition("end")

    item = Builder.work_item("item").with_activities(on_initialized=started)
    task = (
        Builder.task(item)
        .with_join_type("xor")
        .with_split_type("xor")
        .with_activities(on_enabled=create)
    )
    return (
        Builder.workflow("loop")
        .start_condition("start")
        .end_condition("end")
        .task("work", task)
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.task("work").condition("end").route(again))
    )


def prepared(api: tq.WorkflowApi, ids: list[str], n: int) -> list[str]:
    """Work item ids of the first task of fresh instances, enough for `n` completions."""
    waiting: list[str] = []
    while len(waiting) < n:
        ids.clear()
        api.internal_initialize_root_workflow()
        waiting.append(ids.pop())
    return waiting


def cpu_per_call(api: tq.WorkflowApi, items: list[str]) -> float:
    began = time.process_time()
    for item in items:
        api.internal_complete_work_item(item)
    return time.process_time() - began


def completion_cost(apps: dict[str, Any], n: int) -> dict[str, float]:
    """CPU per completion on each side, in alternating batches."""
    waiting = {side: prepared(api, ids, n) for side, (api, ids) in apps.items()}
    spent = dict.fromkeys(apps, 0.0)
    for start in range(0, n, BATCH):
        for side, (api, _) in apps.items():
            spent[side] += cpu_per_call(api, waiting[side][start : start + BATCH])
    return {side: total / n for side, total in spent.items()}


def time_travel(app: tq.App, rounds: int, probes: int) -> dict[str, float]:
    ids: list[str] = []
    api = app.register(tq.versions("loop").version("v1", loop(ids, rounds))).api("v1")
    case = api.internal_initialize_root_workflow()
    seen: list[tuple[datetime, tq.WorkflowSnapshot]] = []
    step = max(1, rounds // probes)
    for i in range(rounds):
        app.clock.advance(1)  # type: ignore[attr-defined]
        api.internal_complete_work_item(ids.pop())
        if i % step == 0:
            seen.append((app.clock.now(), api.get_workflow_snapshot(case)))
    spans = count_spans(api.get_trace_spans(case))
    api.get_workflow_state_at(case, seen[0][0])  # warm-up: statements compiled once
    live: list[float] = []
    for _ in range(len(seen)):
        began = time.perf_counter()
        api.get_workflow_snapshot(case)
        live.append(time.perf_counter() - began)
    wall: list[float] = []
    for when, snapshot in seen:
        began = time.perf_counter()
        got = api.get_workflow_state_at(case, when)
        wall.append(time.perf_counter() - began)
        assert got == snapshot, when
    return {
        "spans": spans,
        "state_at_p50_ms": statistics.median(wall) * 1e3,
        "state_at_max_ms": max(wall) * 1e3,
        "snapshot_p50_ms": statistics.median(live) * 1e3,
    }


def count_spans(spans: list[tq.TraceSpan]) -> int:
    return sum(1 + count_spans(s.children) for s in spans)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", type=int, default=1100, help="iterations of the long case")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n, rounds, iterations = (50, 1, 60) if args.quick else (args.n, args.rounds, args.loop)
    folder = Path(tempfile.mkdtemp(prefix="tasquencer-bench-"))
    results: list[dict[str, float]] = []
    off = tq.testing.create_app(folder / "off.db", audit=None, sqlite_synchronous="OFF")
    on = tq.testing.create_app(folder / "on.db", sqlite_synchronous="OFF")
    try:
        apps = {}
        for side, app in (("off", off), ("on", on)):
            ids: list[str] = []
            apps[side] = (
                app.register(tq.versions("seq10").version("v1", seq10(ids))).api("v1"),
                ids,
            )
        completion_cost(apps, BATCH)  # warm-up
        for round_number in range(1, rounds + 1):
            cost = completion_cost(apps, n)
            ratio = cost["on"] / cost["off"]
            print(
                f"round {round_number}: CPU per completion, audit off {cost['off'] * 1e3:.3f} ms,"
                f" on {cost['on'] * 1e3:.3f} ms, ratio {ratio:.3f} (goal <= 1.25)"
            )
            results.append(
                {"off_ms": cost["off"] * 1e3, "on_ms": cost["on"] * 1e3, "cpu_ratio": ratio}
            )
        travel = time_travel(on, iterations, 40)
        print(
            f"get_workflow_state_at on a case of {travel['spans']:.0f} spans: p50 "
            f"{travel['state_at_p50_ms']:.2f} ms, max {travel['state_at_max_ms']:.2f} ms "
            f"(goal: p50 < 5 ms); get_workflow_snapshot of it now: p50 "
            f"{travel['snapshot_p50_ms']:.2f} ms"
        )
        results.append(travel)
    finally:
        off.close()
        on.close()
    return results


if __name__ == "__main__":
    main()
