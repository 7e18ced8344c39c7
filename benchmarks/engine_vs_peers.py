"""tasquencer against SpiffWorkflow and against a bare durable SQLite commit, in one run.

    .venv/bin/python benchmarks/engine_vs_peers.py                 # n=200, 3 rounds
    .venv/bin/python benchmarks/engine_vs_peers.py --quick --no-peers
    .venv/bin/python benchmarks/engine_vs_peers.py --profile seq10  # where the CPU time goes

Measurements (each one on a fresh database file in a temporary folder):

- `tq`: tasquencer on SQLite in its default durable mode (WAL, synchronous=FULL: an fsync on
  every commit). Each task initializes its work item in `on_enabled`, the work item starts
  itself in `on_initialized`; the driver makes one call per human action: one
  `internal_initialize_root_workflow()` per instance and one `internal_complete_work_item(id)`
  per work item.
- `tq start+complete`: the work item is only initialized; the driver calls
  `internal_start_work_item(id)` and then `internal_complete_work_item(id)`.
- `tq client`: the `tq` workflow driven as a stateless client would (a web handler, a worker,
  a UI polling a queue): each step reads `list_work_items(id)` and completes the started work
  items it lists with `internal_complete_work_item`, until none is left; a
  `get_workflow_state(id)` at the end. Every call is timed, reads included.
- `tq client answers`: the same client acting on what each command answers (the work items
  the call created): one `list_work_items(id)` after initializing, then it completes the
  started work items the completions return, a `get_workflow_state(id)` at the end.
- `spiff sqlite_full` / `spiff sqlite`: `bench_spiff.py` from the peers folder, run as a
  subprocess in a peers virtualenv (fsync per commit, rollback journal / WAL without fsync).
- `commit sqlite3` / `commit sqlalchemy`: the floor: BEGIN IMMEDIATE, INSERT OR REPLACE of one
  row, COMMIT, in tasquencer's journal mode and synchronous setting (WAL + FULL), through the
  stdlib driver and through SQLAlchemy (`engine.begin()` on the engine tasquencer builds).

The `tq` and `tq start+complete` drivers learn work item ids through an in-process side
channel (the `on_initialized` activity appends `ctx.work_item.id` to a list), the analogue of
Spiff's in-memory `get_tasks(READY)`: no read query is timed there; the `client` driver reads
them. Every instance is checked to reach `completed`.

The peers are optional and live outside this repository: `--peers-dir DIR` names a folder
holding `bench_spiff.py` (runs N instances of a workload in SpiffWorkflow, persisting after
every completion, and prints a JSON line with `inst_per_s`, `items_per_s`, `items`, `p50_ms`,
`p99_ms`) and `gen_bpmn.py` (writes the workloads' BPMN files into `$PEERS_BPMN_DIR`).

fsync latency drifts a lot on shared machines, so the measurements run in rounds, each round
running every measurement once in a fixed order, one block per workload that starts with its
own bare commits; the report gives medians over rounds and ratios taken within each round (then
their median). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store import database

WORKLOADS = ("seq10", "and10", "or10")
WIDTH = 10  # tasks per workload
OR_TAKE = 5  # branches the OR split chooses
EXPECTED_ITEMS = {"seq10": WIDTH, "and10": WIDTH, "or10": OR_TAKE}
GOAL_SPEEDUP = 5.0  # tasquencer inst/s >= 5x Spiff (sqlite_full)
GOAL_COMMIT_RATIO = 2.0  # tasquencer p50 completion <= 2x a bare durable commit

SIDE_CHANNEL_NOTE = (
    "the tq and tq start+complete drivers learn work item ids through an in-process side "
    "channel (on_initialized appends ctx.work_item.id to a list), the analogue of Spiff's "
    "in-memory get_tasks(READY); tq client reads them (list_work_items), every read timed"
)


# --- statistics ------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    """The same nearest-rank percentile as bench_spiff.py."""
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def _result(
    name: str,
    workload: str,
    n: int,
    elapsed: float,
    latencies: Sequence[float],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "measurement": name,
        "workload": workload,
        "n": n,
        "inst_per_s": round(n / elapsed, 1) if n else None,
        "items_per_s": round(len(latencies) / elapsed, 1),
        "items": len(latencies),
        "p50_ms": round(pct(latencies, 0.5) * 1e3, 3),
        "p99_ms": round(pct(latencies, 0.99) * 1e3, 3),
        **extra,
    }


# --- tasquencer workloads --------------------------------------------------------------------


def _task(ids: list[str], auto_start: bool) -> tq.builder.TaskBuilder:
    """A task whose work item is created on enable and (optionally) starts itself."""

    def on_initialized(ctx: Any) -> None:
        ids.append(ctx.work_item.id)  # the side channel
        if auto_start:
            ctx.work_item.start()

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    item = Builder.work_item("item").with_activities(on_initialized=on_initialized)
    return Builder.task(item).with_activities(on_enabled=on_enabled)


def _choose_first(ctx: Any) -> Any:
    return [ctx.route.to_task(f"t{i}") for i in range(OR_TAKE)]


def _to_task(name: str) -> Callable[[Any], Any]:
    return lambda to: to.task(name)


def build_workflow(workload: str, ids: list[str], auto_start: bool) -> tq.builder.WorkflowBuilder:
    names = [f"t{i}" for i in range(WIDTH)]
    wf = Builder.workflow(workload).start_condition("start").end_condition("end")
    for name in names:
        wf = wf.task(name, _task(ids, auto_start))
    if workload == "seq10":
        wf = wf.connect_condition("start", lambda to: to.task("t0"))
        for a, b in itertools.pairwise(names):
            wf = wf.connect_task(a, _to_task(b))
        return wf.connect_task(names[-1], lambda to: to.condition("end"))
    if workload not in ("and10", "or10"):
        raise ValueError(f"unknown workload {workload!r}; choose from {WORKLOADS}")
    # The BPMN gateways become dummy tasks: a split and a join, AND or OR.
    kind: Literal["and", "or"] = "and" if workload == "and10" else "or"
    wf = wf.dummy_task("split", Builder.dummy_task().with_split_type(kind))
    wf = wf.dummy_task("join", Builder.dummy_task().with_join_type(kind))
    wf = wf.connect_condition("start", lambda to: to.task("split"))

    def fan_out(to: Any) -> Any:
        for name in names:
            to = to.task(name)
        return to.route(_choose_first) if kind == "or" else to

    wf = wf.connect_task("split", fan_out)
    for name in names:
        wf = wf.connect_task(name, lambda to: to.task("join"))
    return wf.connect_task("join", lambda to: to.condition("end"))


class TqRun:
    """One tasquencer app on a fresh database, with its side channel."""

    def __init__(self, workload: str, path: Path, auto_start: bool, synchronous: str = "FULL"):
        self.workload = workload
        self.auto_start = auto_start
        self.ids: list[str] = []
        self.app = tq.App(f"sqlite:///{path}", sqlite_synchronous=synchronous)
        definition = build_workflow(workload, self.ids, auto_start)
        versions = self.app.register(tq.versions(workload).version("v1", definition))
        self.api = versions.api("v1")

    def close(self) -> None:
        self.app.close()

    def drive(self, n: int, complete_lat: list[float], start_lat: list[float]) -> list[str]:
        """Run n instances one after the other, start to end; returns their ids."""
        api, ids, auto_start = self.api, self.ids, self.auto_start
        init = api.internal_initialize_root_workflow
        start = api.internal_start_work_item
        complete = api.internal_complete_work_item
        clock = time.perf_counter
        workflow_ids = []
        for _ in range(n):
            ids.clear()
            workflow_ids.append(init())
            while ids:
                item = ids.pop(0)
                if not auto_start:
                    t0 = clock()
                    start(item)
                    start_lat.append(clock() - t0)
                t0 = clock()
                complete(item)
                complete_lat.append(clock() - t0)
        return workflow_ids

    def drive_client(
        self, n: int, complete_lat: list[float], read_lat: list[float], *, answers: bool = False
    ) -> list[str]:
        """Run n instances as a stateless client: read, complete what is started, repeat. With
        `answers`, read once, then complete the started work items the completions return."""
        api = self.api
        init = api.internal_initialize_root_workflow
        complete = api.internal_complete_work_item
        clock = time.perf_counter

        def started_items(workflow_id: str) -> list[str]:
            t0 = clock()
            started = [item.id for item in api.list_work_items(workflow_id, state="started")]
            read_lat.append(clock() - t0)
            return started

        workflow_ids = []
        for _ in range(n):
            workflow_id = init()
            workflow_ids.append(workflow_id)
            started = started_items(workflow_id)
            while started:
                item = started.pop(0)
                t0 = clock()
                created = complete(item)
                complete_lat.append(clock() - t0)
                if answers:
                    started += [i.id for i in created if i.state == "started"]
                elif not started:
                    started = started_items(workflow_id)
            t0 = clock()
            api.get_workflow_state(workflow_id)
            read_lat.append(clock() - t0)
        self.ids.clear()  # the side channel is not used here
        return workflow_ids

    def check(self, workflow_ids: list[str], n: int, items: int) -> None:
        """Every instance completed, with the expected number of work items."""
        assert len(workflow_ids) == n
        for wid in workflow_ids:
            state = self.api.get_workflow_state(wid)
            assert state == "completed", f"{self.workload} instance {wid} ended {state!r}"
        expected = n * EXPECTED_ITEMS[self.workload]
        assert items == expected, f"{self.workload}: {items} completions, expected {expected}"


def measure_tq(
    workload: str,
    n: int,
    workdir: Path,
    *,
    auto_start: bool,
    warmup: int,
    client: Literal["reads", "answers"] | None = None,
) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp(prefix="tq-", dir=workdir)) / "app.db"
    run = TqRun(workload, path, auto_start)
    drive = run.drive if client is None else partial(run.drive_client, answers=client == "answers")
    try:
        if warmup:  # first calls compile queries and fill caches; not timed
            run.check(drive(warmup, [], []), warmup, EXPECTED_ITEMS[workload] * warmup)
        complete_lat: list[float] = []
        other_lat: list[float] = []  # starts, or the client's reads
        t0 = time.perf_counter()
        workflow_ids = drive(n, complete_lat, other_lat)
        elapsed = time.perf_counter() - t0
        run.check(workflow_ids, n, len(complete_lat))
        with run.app.engine.connect() as conn:
            conn.info["tasquencer_read_only"] = True
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            conn.rollback()
    finally:
        run.close()
    extra: dict[str, Any] = {"journal_mode": journal, "synchronous": sync}
    if client is not None:
        name = "tq client answers" if client == "answers" else "tq client"
        extra["read_p50_ms"] = round(pct(other_lat, 0.5) * 1e3, 3)
        extra["reads_per_instance"] = round(len(other_lat) / n, 1)
        extra["calls_per_item"] = 1
    elif not auto_start:
        name = "tq start+complete"
        extra["start_p50_ms"] = round(pct(other_lat, 0.5) * 1e3, 3)
        extra["calls_per_item"] = 2
    else:
        name = "tq"
        extra["calls_per_item"] = 1
    return _result(name, workload, n, elapsed, complete_lat, **extra)


# --- bare commits ----------------------------------------------------------------------------


def measure_commit_sqlite3(
    commits: int, workdir: Path, journal_mode: str = "WAL"
) -> dict[str, Any]:
    """The stdlib driver; `journal_mode="DELETE"` is Spiff's sqlite_full setting, for context."""
    path = Path(tempfile.mkdtemp(prefix="commit-", dir=workdir)) / "bare.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        journal = conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        lat = []
        clock = time.perf_counter
        t_start = clock()
        for i in range(commits):
            t0 = clock()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO t (id, v) VALUES (1, ?)", (str(i),))
            conn.execute("COMMIT")
            lat.append(clock() - t0)
        elapsed = clock() - t_start
        assert conn.execute("SELECT v FROM t WHERE id = 1").fetchone()[0] == str(commits - 1)
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()
    name = "commit sqlite3" if journal_mode == "WAL" else f"commit sqlite3 {journal_mode}"
    return _result(name, "-", 0, elapsed, lat, journal_mode=journal, synchronous=sync)


def measure_commit_sqlalchemy(commits: int, workdir: Path) -> dict[str, Any]:
    """Through the engine tasquencer builds: same pool, same PRAGMAs, same BEGIN IMMEDIATE."""
    path = Path(tempfile.mkdtemp(prefix="commit-", dir=workdir)) / "bare.db"
    engine = database.create_engine(f"sqlite:///{path}", sqlite_synchronous="FULL")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        stmt = sa.text("INSERT OR REPLACE INTO t (id, v) VALUES (1, :v)")
        lat = []
        clock = time.perf_counter
        t_start = clock()
        for i in range(commits):
            t0 = clock()
            with engine.begin() as conn:
                conn.execute(stmt, {"v": str(i)})
            lat.append(clock() - t0)
        elapsed = clock() - t_start
        with engine.connect() as conn:
            conn.info["tasquencer_read_only"] = True
            assert conn.exec_driver_sql("SELECT v FROM t WHERE id = 1").scalar() == str(commits - 1)
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            conn.rollback()
    finally:
        engine.dispose()
    return _result(
        "commit sqlalchemy", "-", 0, elapsed, lat, journal_mode=journal, synchronous=sync
    )


# --- SpiffWorkflow ---------------------------------------------------------------------------


@dataclass
class Peers:
    python: Path
    bench: Path
    bpmn_dir: Path


def default_peers_venv() -> Path:
    return Path(os.environ.get("TMPDIR") or "/tmp") / "tasquencer-peers-venv"


def _has_spiff(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import SpiffWorkflow"], capture_output=True, check=False
    )
    return probe.returncode == 0


def ensure_peers_python(given: str | None, console: Console) -> Path:
    if given:
        python = Path(given)
        if not _has_spiff(python):
            raise SystemExit(f"{python} cannot import SpiffWorkflow (pip install spiffworkflow)")
        return python
    venv_dir = default_peers_venv()
    python = venv_dir / "bin" / "python"
    if _has_spiff(python):
        return python
    console.print(f"creating the peers virtualenv {venv_dir} (pip install spiffworkflow)")
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(venv_dir)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "spiffworkflow"],
        check=True,
        stdout=sys.stderr,
    )
    if not _has_spiff(python):
        raise SystemExit(f"{python}: SpiffWorkflow did not install")
    return python


def prepare_peers(args: argparse.Namespace, workdir: Path, console: Console) -> Peers:
    if not args.peers_dir:
        raise SystemExit(
            "the peers are not part of this repository: give --peers-dir DIR (a folder holding "
            "bench_spiff.py and gen_bpmn.py), or --no-peers"
        )
    peers_dir = Path(args.peers_dir)
    bench, gen = peers_dir / "bench_spiff.py", peers_dir / "gen_bpmn.py"
    for script in (bench, gen):
        if not script.exists():
            raise SystemExit(f"{script} not found: give another --peers-dir, or --no-peers")
    python = ensure_peers_python(args.peers_python, console)
    bpmn_dir = workdir / "bpmn"
    bpmn_dir.mkdir()
    env = {**os.environ, "PEERS_BPMN_DIR": str(bpmn_dir)}
    subprocess.run([str(python), str(gen)], env=env, check=True, capture_output=True)
    return Peers(python, bench, bpmn_dir)


def spiff_version(peers: Peers) -> str:
    out = subprocess.run(
        [
            str(peers.python),
            "-c",
            "import importlib.metadata as m; print(m.version('SpiffWorkflow'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def measure_spiff(
    peers: Peers, workload: str, n: int, persist: str, workdir: Path
) -> dict[str, Any]:
    # bench_spiff.py puts its database in tempfile.gettempdir(): a fresh TMPDIR per run.
    tmp = tempfile.mkdtemp(prefix="spiff-", dir=workdir)
    env = {**os.environ, "PEERS_BPMN_DIR": str(peers.bpmn_dir), "TMPDIR": tmp}
    command = [
        str(peers.python),
        str(peers.bench),
        "--workload",
        workload,
        "--n",
        str(n),
        "--persist",
        persist,
        "--take",
        str(OR_TAKE),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    raw = json.loads(lines[-1])
    expected = n * EXPECTED_ITEMS[workload]
    assert raw["items"] == expected, f"spiff {workload}: {raw['items']} items, expected {expected}"
    return {
        "measurement": f"spiff {persist}",
        "workload": workload,
        "n": n,
        "inst_per_s": raw["inst_per_s"],
        "items_per_s": raw["items_per_s"],
        "items": raw["items"],
        "p50_ms": raw["p50_ms"],
        "p99_ms": raw["p99_ms"],
        "calls_per_item": 1,
    }


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    workload: str
    run: Callable[[Path], dict[str, Any]]


def commit_key(workload: str) -> str:
    """Bare commits are measured right before each workload's block: `@seq10`."""
    return f"@{workload}"


def plan(args: argparse.Namespace, peers: Peers | None) -> list[Step]:
    """Every measurement of one round, in a fixed order.

    fsync latency here can change regime within a minute, so each workload is a block that
    starts with its own bare commits, and the measurements compared with each other sit next
    to each other: tq, spiff sqlite_full, tq client, tq start+complete, spiff sqlite.
    """
    steps = []
    for w in args.workloads:
        at = commit_key(w)
        steps.append(Step("commit sqlite3", at, partial(measure_commit_sqlite3, args.commits)))
        steps.append(
            Step("commit sqlalchemy", at, partial(measure_commit_sqlalchemy, args.commits))
        )
        if peers is not None:  # the floor of Spiff's sqlite_full (rollback journal + FULL)
            steps.append(
                Step(
                    "commit sqlite3 DELETE",
                    at,
                    partial(measure_commit_sqlite3, args.commits, journal_mode="DELETE"),
                )
            )
        tq_auto = partial(measure_tq, w, args.n, auto_start=True, warmup=args.warmup)
        tq_start = partial(measure_tq, w, args.n, auto_start=False, warmup=args.warmup)
        tq_client = partial(
            measure_tq, w, args.n, auto_start=True, warmup=args.warmup, client="reads"
        )
        tq_answers = partial(
            measure_tq, w, args.n, auto_start=True, warmup=args.warmup, client="answers"
        )
        steps.append(Step("tq", w, tq_auto))
        if peers is not None:
            steps.append(
                Step(
                    "spiff sqlite_full", w, partial(measure_spiff, peers, w, args.n, "sqlite_full")
                )
            )
        steps.append(Step("tq client", w, tq_client))
        steps.append(Step("tq client answers", w, tq_answers))
        steps.append(Step("tq start+complete", w, tq_start))
        if peers is not None:
            steps.append(
                Step("spiff sqlite", w, partial(measure_spiff, peers, w, args.n, "sqlite"))
            )
    return steps


def summarize(rounds: list[dict[tuple[str, str], dict[str, Any]]]) -> list[dict[str, Any]]:
    """One line per measurement: medians over rounds."""
    out = []
    for key, first in rounds[0].items():
        runs = [r[key] for r in rounds if key in r]
        line = {k: v for k, v in first.items() if not isinstance(v, int | float) or k == "n"}
        for metric in (
            "inst_per_s",
            "items_per_s",
            "p50_ms",
            "p99_ms",
            "start_p50_ms",
            "read_p50_ms",
        ):
            values = [r[metric] for r in runs if r.get(metric) is not None]
            if values:
                line[metric] = round(median(values), 3 if metric.endswith("ms") else 1)
        line["items"] = first["items"]
        line["round"] = "median"
        line["rounds"] = len(runs)
        out.append(line)
    return out


def ratios(
    rounds: list[dict[tuple[str, str], dict[str, Any]]], workloads: Sequence[str]
) -> list[dict[str, Any]]:
    """The ratios that matter, taken within each round (same fsync weather), then medians."""
    out = []

    def per_round(
        a: tuple[str, str], b: tuple[str, str], metric_a: str, metric_b: str
    ) -> list[float]:
        return [
            r[a][metric_a] / r[b][metric_b] for r in rounds if a in r and b in r and r[b][metric_b]
        ]

    for w in workloads:
        for variant in ("tq", "tq client", "tq client answers", "tq start+complete"):
            for spiff in ("spiff sqlite_full", "spiff sqlite"):
                speedup = per_round((variant, w), (spiff, w), "inst_per_s", "inst_per_s")
                if speedup:
                    goal = GOAL_SPEEDUP if spiff == "spiff sqlite_full" else None
                    out.append(_ratio(f"{variant} inst/s / {spiff} inst/s", w, speedup, goal))
            if variant == "tq":
                ceiling = [
                    1e3
                    / ((1 + EXPECTED_ITEMS[w]) * r[("commit sqlite3", commit_key(w))]["p50_ms"])
                    / r[("spiff sqlite_full", w)]["inst_per_s"]
                    for r in rounds
                    if ("spiff sqlite_full", w) in r
                ]
                if ceiling:
                    out.append(
                        _ratio(
                            "ceiling: (1 bare commit per call) inst/s / spiff sqlite_full inst/s",
                            w,
                            ceiling,
                            None,
                        )
                    )
            for floor in ("commit sqlite3", "commit sqlalchemy"):
                vs_commit = per_round((variant, w), (floor, commit_key(w)), "p50_ms", "p50_ms")
                if vs_commit:
                    out.append(
                        _ratio(
                            f"{variant} p50 completion / {floor} p50",
                            w,
                            vs_commit,
                            GOAL_COMMIT_RATIO,
                            higher_is_better=False,
                        )
                    )
    return out


def _ratio(
    name: str,
    workload: str,
    values: list[float],
    goal: float | None,
    *,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """A ratio line; `goal=None` for context-only ratios."""
    value = median(values)
    met = None if goal is None else value >= goal if higher_is_better else value <= goal
    return {
        "ratio": name,
        "workload": workload,
        "value": round(value, 2),
        "per_round": [round(v, 2) for v in values],
        "goal": None if goal is None else f"{'>=' if higher_is_better else '<='} {goal:g}",
        "met": met,
    }


def render(
    console: Console,
    summary: list[dict[str, Any]],
    ratio_lines: list[dict[str, Any]],
    title: str,
) -> None:
    table = Table(title=title)
    columns = ("measurement", "workload", "inst/s", "items/s", "p50 ms", "p99 ms", "start p50")
    for col in (*columns, "read p50"):
        table.add_column(col, justify="left" if col in ("measurement", "workload") else "right")

    def fmt(v: Any, spec: str) -> str:
        return "" if v is None else format(v, spec)

    for line in summary:
        table.add_row(
            line["measurement"],
            line["workload"],
            fmt(line.get("inst_per_s"), ".1f"),
            fmt(line.get("items_per_s"), ".1f"),
            fmt(line.get("p50_ms"), ".3f"),
            fmt(line.get("p99_ms"), ".3f"),
            fmt(line.get("start_p50_ms"), ".3f"),
            fmt(line.get("read_p50_ms"), ".3f"),
        )
    console.print(table)
    if not ratio_lines:
        return
    rt = Table(title="ratios (median of per-round ratios)")
    for col in ("ratio", "workload", "value", "per round", "goal", "met"):
        rt.add_column(col, justify="right" if col in ("value",) else "left")
    for r in ratio_lines:
        rt.add_row(
            r["ratio"],
            r["workload"],
            f"{r['value']:.2f}",
            " ".join(f"{v:.2f}" for v in r["per_round"]),
            r["goal"] or "",
            "" if r["met"] is None else "[green]yes[/]" if r["met"] else "[red]no[/]",
        )
    console.print(rt)


def emit(line: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(json.dumps(line), flush=True)


@contextlib.contextmanager
def progress(err: Console) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal, one line per step otherwise (stderr either way)."""
    if not err.is_terminal:
        yield lambda message: err.print(message, highlight=False)
        return
    with err.status("") as status:
        yield lambda message: status.update(message)


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tasquencer-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, out: Console, err: Console) -> dict[str, Any]:
    with workspace(args.keep) as workdir:
        peers = None if args.no_peers else prepare_peers(args, workdir, err)
        steps = plan(args, peers)
        rounds: list[dict[tuple[str, str], dict[str, Any]]] = []
        with progress(err) as report:
            for k in range(1, args.rounds + 1):
                results: dict[tuple[str, str], dict[str, Any]] = {}
                for step in steps:
                    report(f"round {k}/{args.rounds}: {step.name} {step.workload}")
                    result = step.run(workdir)
                    result["workload"] = step.workload
                    result["round"] = k
                    results[(step.name, step.workload)] = result
                    if args.json_lines:
                        emit(result)
                rounds.append(results)
        summary = summarize(rounds)
        ratio_lines = ratios(rounds, args.workloads)
        meta = {
            "meta": True,
            "n": args.n,
            "rounds": args.rounds,
            "workloads": list(args.workloads),
            "commits_per_round": args.commits,
            "warmup_instances": args.warmup,
            "python": sys.version.split()[0],
            "sqlalchemy": sa.__version__,
            "sqlite": sqlite3.sqlite_version,
            "spiffworkflow": spiff_version(peers) if peers else None,
            "note": SIDE_CHANNEL_NOTE,
        }
        if args.json_lines:
            for line in [meta, *summary, *ratio_lines]:
                emit(line)
        title = (
            f"tasquencer vs peers: n={args.n} instances per workload, "
            f"medians of {args.rounds} round(s)"
        )
        render(out, summary, ratio_lines, title)
        out.print(f"note: {SIDE_CHANNEL_NOTE}.", soft_wrap=True)
        if args.json_out:
            with open(args.json_out, "w") as f:
                for line in [meta, *[r for rd in rounds for r in rd.values()], *summary]:
                    f.write(json.dumps(line) + "\n")
                for line in ratio_lines:
                    f.write(json.dumps(line) + "\n")
        return {"meta": meta, "rounds": rounds, "summary": summary, "ratios": ratio_lines}


def run_profile(args: argparse.Namespace, out: Console) -> None:
    """cProfile the tasquencer driver with synchronous=OFF: CPU, not fsync."""
    workload = args.profile
    with workspace(args.keep) as workdir:
        run = TqRun(workload, workdir / "profile.db", True, synchronous="OFF")
        try:
            run.drive(args.warmup or 1, [], [])
            plain: list[float] = []  # the same driver without the profiler, for scale
            t0 = time.perf_counter()
            run.check(run.drive(args.n, plain, []), args.n, len(plain))
            plain_rate = args.n / (time.perf_counter() - t0)
            lat: list[float] = []
            profiler = cProfile.Profile()
            t0 = time.perf_counter()
            profiler.enable()
            workflow_ids = run.drive(args.n, lat, [])
            profiler.disable()
            elapsed = time.perf_counter() - t0
            run.check(workflow_ids, args.n, len(lat))
        finally:
            run.close()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(30)
    out.print(
        f"tq {workload}, n={args.n}, synchronous=OFF (CPU, no fsync): without the profiler "
        f"{plain_rate:.1f} inst/s, p50 completion {pct(plain, 0.5) * 1e3:.3f} ms; under the "
        f"profiler {args.n / elapsed:.1f} inst/s, p50 {pct(lat, 0.5) * 1e3:.3f} ms",
        soft_wrap=True,
        highlight=False,
    )
    out.print(stream.getvalue(), soft_wrap=True, highlight=False, markup=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=None, help="instances per workload (default 200)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    ap.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, among {','.join(WORKLOADS)}",
    )
    ap.add_argument("--commits", type=int, default=None, help="bare commits per block (300)")
    ap.add_argument(
        "--warmup", type=int, default=None, help="untimed tasquencer instances first (3)"
    )
    ap.add_argument("--quick", action="store_true", help="small n, one round (smoke test)")
    ap.add_argument("--no-peers", action="store_true", help="skip SpiffWorkflow")
    ap.add_argument(
        "--peers-dir",
        help="folder holding the peers' bench_spiff.py and gen_bpmn.py (not in this repository; "
        "required unless --no-peers)",
    )
    ap.add_argument(
        "--peers-python",
        help="python with SpiffWorkflow (default: a venv in $TMPDIR/tasquencer-peers-venv, "
        "created if missing)",
    )
    ap.add_argument("--profile", metavar="WORKLOAD", choices=WORKLOADS, help="cProfile tq only")
    ap.add_argument("--no-json", dest="json_lines", action="store_false", help="table only")
    ap.add_argument("--json-out", help="also write every JSON line to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary databases")
    args = ap.parse_args(argv)
    quick = args.quick
    args.n = args.n if args.n is not None else (5 if quick else 200)
    args.rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    args.commits = args.commits if args.commits is not None else (20 if quick else 300)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 3)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; choose from {WORKLOADS}")
    if args.n < 1 or args.rounds < 1 or args.commits < 1 or args.warmup < 0:
        ap.error("--n, --rounds and --commits must be positive, --warmup non-negative")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    out = Console(width=max(Console().width, 140))
    err = Console(stderr=True)
    if args.profile:
        run_profile(args, out)
        return None
    return run_benchmark(args, out, err)


if __name__ == "__main__":
    main()
