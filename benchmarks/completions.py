"""CPU per completion on SQLite (seq10, and10, or10, or50 steps), against another source tree.

    .venv/bin/python benchmarks/completions.py                         # this tree, n=100, 3 rounds
    .venv/bin/python benchmarks/completions.py --baseline-src ../base/src   # before/after, one run
    .venv/bin/python benchmarks/completions.py --quick                 # seconds; the smoke test
    .venv/bin/python benchmarks/completions.py --profile seq10         # cProfile of completions

One timed call is `api.internal_complete_work_item(id)` on the workloads of `engine_vs_peers.py`
(each task initializes its work item in `on_enabled`, the work item starts itself in
`on_initialized`), timed with `time.process_time`: the CPU of the engine, the driver and
SQLite, not the wait for the disk. `internal_initialize_root_workflow()` is timed the same way
(once per instance). Both run with `synchronous=OFF` (no fsync: what is left is the engine's
own cost) and `FULL` (tasquencer's default; the fsync's own CPU shows). `calls` counts the
Python calls per completion (cProfile, a few more instances): load on the machine blurs CPU
time, not that. `or50` (48 branches between an OR split and an OR join) asks the OR-join at
every step; `register_us` and `first_call_us` show what a definition builds, and when.

Every measurement runs in a subprocess of its own, on a fresh database, with `PYTHONPATH` set to
the source tree measured, so both trees run the same script the same way. Rounds interleave the
two trees (this one, then the baseline, per workload and setting); each round's ratio is taken
within the round and the median of the ratios is reported next to every round's value.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_vs_peers as peers
from engine_vs_peers import EXPECTED_ITEMS, build_workflow

import tasquencer as tq
from tasquencer import Builder

SETTINGS = ("OFF", "FULL")
WIDE = "or50"  # an OR split into 48 branches and an OR join: 50 tasks
BRANCHES = 48
FIGURES = ("complete_us", "calls", "initialize_us", "register_us", "first_call_us")
PROFILED = 5  # instances whose completions are profiled to count calls
WORKLOADS = (*peers.WORKLOADS, WIDE)
THIS_SRC = Path(__file__).resolve().parent.parent / "src"


# --- the wide OR-join workload ----------------------------------------------------------------


def _chosen(workflow_id: str) -> list[int]:
    """About a quarter of the branches, a set of its own for every instance (never none)."""
    draw = random.Random(workflow_id)  # seeded by the id's SHA-512: the same set every time
    return [i for i in range(BRANCHES) if draw.random() < 0.25] or [0]


def expected_items(workload: str, workflow_id: str) -> int:
    return len(_chosen(workflow_id)) if workload == WIDE else EXPECTED_ITEMS[workload]


def build_wide(ids: list[str]) -> tq.builder.WorkflowBuilder:
    """OR split, 48 branches of one task each, OR join: every step asks the OR-join."""
    names = [f"b{i}" for i in range(BRANCHES)]
    wf = Builder.workflow(WIDE).start_condition("start").end_condition("end")
    for name in names:
        wf = wf.task(name, peers._task(ids, True))
    wf = wf.dummy_task("split", Builder.dummy_task().with_split_type("or"))
    wf = wf.dummy_task("join", Builder.dummy_task().with_join_type("or"))
    wf = wf.connect_condition("start", lambda to: to.task("split"))

    def route(ctx: Any) -> Any:
        return [ctx.route.to_task(names[i]) for i in _chosen(ctx.parent.workflow.id)]

    def fan_out(to: Any) -> Any:
        for name in names:
            to = to.task(name)
        return to.route(route)

    wf = wf.connect_task("split", fan_out)
    for name in names:
        wf = wf.connect_task(name, lambda to: to.task("join"))
    return wf.connect_task("join", lambda to: to.condition("end"))


# --- one measurement (run in a subprocess) ---------------------------------------------------


class Run:
    """One app on a fresh database; its work items' ids come through a side channel."""

    def __init__(self, workload: str, path: Path, synchronous: str) -> None:
        self.ids: list[str] = []
        self.app = tq.App(f"sqlite:///{path}", sqlite_synchronous=synchronous)
        self.workload = workload
        # Two versions, each a definition of its own: "fresh" is first used once the
        # statements are compiled and the caches warm, so its first instance shows what a
        # definition builds on first use.
        versions = tq.versions(workload)
        for version in ("v1", "fresh"):
            definition = (
                build_wide(self.ids)
                if workload == WIDE
                else build_workflow(workload, self.ids, True)
            )
            versions = versions.version(version, definition)
        t0 = time.process_time()
        self.versions = self.app.register(versions)
        self.register_cpu = (time.process_time() - t0) / 2
        self.api = self.versions.api("v1")

    def drive(
        self,
        n: int,
        init_cpu: list[float],
        complete_cpu: list[float],
        profiler: cProfile.Profile | None = None,
    ) -> None:
        """n instances one after the other, start to end, each one checked to complete."""
        api, ids, cpu = self.api, self.ids, time.process_time
        init, complete = api.internal_initialize_root_workflow, api.internal_complete_work_item
        if profiler is not None:
            complete = partial(profiler.runcall, complete)
        for _ in range(n):
            ids.clear()
            done = 0
            t0 = cpu()
            workflow_id = init()
            init_cpu.append(cpu() - t0)
            while ids:
                item = ids.pop(0)
                t0 = cpu()
                complete(item)
                complete_cpu.append(cpu() - t0)
                done += 1
            state = api.get_workflow_state(workflow_id)
            assert state == "completed", f"{self.workload} instance ended {state!r}"
            expected = expected_items(self.workload, workflow_id)
            assert done == expected, f"{done} completions, expected {expected}"


def measure(workload: str, synchronous: str, n: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tq-completions-") as folder:
        run = Run(workload, Path(folder) / "app.db", synchronous)
        try:
            run.drive(warmup, [], [])  # compiles statements and fills caches; not counted
            run.api = run.versions.api("fresh")
            first_init: list[float] = []
            first_complete: list[float] = []
            run.drive(1, first_init, first_complete)
            init_cpu: list[float] = []
            complete_cpu: list[float] = []
            run.api = run.versions.api("v1")
            run.drive(n, init_cpu, complete_cpu)
            # Python calls per completion: a count, unlike CPU time, that load does not blur.
            profiler = cProfile.Profile()
            profiled: list[float] = []
            run.drive(PROFILED, [], profiled, profiler)
            calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
        finally:
            run.app.close()
    return {
        "workload": workload,
        "synchronous": synchronous,
        "n": n,
        "completions": len(complete_cpu),
        "complete_us": round(statistics.fmean(complete_cpu) * 1e6, 1),
        "initialize_us": round(statistics.fmean(init_cpu) * 1e6, 1),
        "calls": round(calls / len(profiled)),
        "register_us": round(run.register_cpu * 1e6, 1),
        "first_call_us": round((first_init[0] + max(first_complete)) * 1e6, 1),
        "tasquencer": str(Path(tq.__file__).resolve().parent.parent),
    }


def profile(workload: str, n: int) -> str:
    """cProfile of the completions of n instances (synchronous=OFF), top 30 by own time."""
    with tempfile.TemporaryDirectory(prefix="tq-completions-") as folder:
        run = Run(workload, Path(folder) / "app.db", "OFF")
        try:
            run.drive(3, [], [])
            profiler = cProfile.Profile()
            completions: list[float] = []
            run.drive(n, [], completions, profiler)
        finally:
            run.app.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    calls = stats.total_calls  # type: ignore[attr-defined]
    print(
        f"{workload}, synchronous=OFF: {len(completions)} completions, "
        f"{calls / len(completions):.0f} function calls per completion",
        file=out,
    )
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


# --- the driver ------------------------------------------------------------------------------


def in_subprocess(src: Path, workload: str, synchronous: str, n: int, warmup: int) -> Any:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--measure", workload, synchronous]
    command += ["--n", str(n), "--warmup", str(warmup)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {workload} on {src} failed:\n{done.stderr}")
    result = json.loads(done.stdout.splitlines()[-1])
    if Path(result["tasquencer"]) != src.resolve():
        raise RuntimeError(f"expected tasquencer from {src}, ran {result['tasquencer']}")
    return result


def spread(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def report(rows: dict[tuple[str, str, str], list[dict[str, Any]]], baseline: bool) -> list[str]:
    lines = []
    for workload in WORKLOADS:
        for synchronous in SETTINGS:
            mine = rows.get(("this", workload, synchronous))
            if not mine:
                continue
            for figure in FIGURES:
                values = [r[figure] for r in mine]
                line = f"{workload:6} {synchronous:4} {figure:14}"
                line += f" this {statistics.median(values):7.1f}"
                if baseline:
                    base = [r[figure] for r in rows[("base", workload, synchronous)]]
                    ratios = [b / m for b, m in zip(base, values, strict=True)]
                    line += (
                        f"  base {statistics.median(base):7.1f}"
                        f"  base/this {statistics.median(ratios):.2f} (rounds: {spread(ratios)};"
                        f" best of each: {min(base) / min(values):.2f})"
                    )
                lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="instances per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="untimed instances first")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--synchronous", default=",".join(SETTINGS))
    parser.add_argument("--baseline-src", type=Path, help="source tree to compare with")
    parser.add_argument("--quick", action="store_true", help="n=3, 1 round, 1 warm-up")
    parser.add_argument("--profile", choices=WORKLOADS, help="profile completions and stop")
    parser.add_argument("--measure", nargs=2, metavar=("WORKLOAD", "SYNC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.warmup = 3, 1, 1
    if args.measure:
        result = measure(*args.measure, args.n, args.warmup)
        print(json.dumps(result))
        return result
    if args.profile:
        text = profile(args.profile, args.n)
        print(text)
        return {"profile": text}

    sides = [("this", THIS_SRC)]
    if args.baseline_src:
        sides.append(("base", args.baseline_src))
    rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for round_ in range(1, args.rounds + 1):
        for workload in args.workloads.split(","):
            for synchronous in args.synchronous.split(","):
                for side, src in sides:
                    result = in_subprocess(src, workload, synchronous, args.n, args.warmup)
                    result.update(side=side, round=round_)
                    rows.setdefault((side, workload, synchronous), []).append(result)
                    print(json.dumps(result), flush=True)
    lines = report(rows, args.baseline_src is not None)
    print("\nCPU µs per call (median over rounds)")
    print("\n".join(lines))
    return {"rows": rows, "report": lines}


if __name__ == "__main__":
    main()
