"""Scheduled jobs on SQLite with one in-process worker: throughput and timer lateness.

    .venv/bin/python benchmarks/jobs.py              # n=2000 jobs per kind, m=200 timers over 3 s
    .venv/bin/python benchmarks/jobs.py --quick      # a few seconds
    .venv/bin/python benchmarks/jobs.py --n 5000 --m 500 --spread 5

Measurements (each on a fresh database file, SQLite in tasquencer's default durable mode: WAL,
synchronous=FULL, so every commit is an fsync; real clock):

- `throughput mutation`: N no-op mutations are scheduled due now (in batches, before the
  worker starts); then `app.start_worker()` is started and the clock runs until every job is
  `success`. A scheduled mutation is claimed and run in one transaction.
- `throughput action`: the same with N no-op sync actions. An action costs two transactions
  (claim with a lease, then settle).
- `lateness`: the worker is started and idle (default poll interval); then M mutations are
  scheduled in one transaction with `run_at` spread uniformly (seeded) over `--spread` seconds,
  starting half a second ahead. Each job gets its intended `run_at` as an argument and records
  `wall clock when its body runs - run_at`. Reported: p50 / p99 / max, and min (a negative min
  would mean a job ran early).

Results are printed as a table and as JSON lines (`{"measurement": ...}`); `main()` returns
them.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

import tasquencer as tq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import pct

SCHEDULE_BATCH = 500
QUICK = {"n": 200, "m": 30, "spread": 1.0}
DEFAULTS = {"n": 2000, "m": 200, "spread": 3.0}


def count_jobs(app: tq.App, state: str) -> int:
    with app.transaction(read_only=True) as tx:
        query = sa.text("SELECT count(*) FROM tasquencer_jobs WHERE state = :state")
        return int(tx.connection.execute(query, {"state": state}).scalar_one())


def lateness_stats(ms: Sequence[float]) -> dict[str, Any]:
    """How late timers ran (actual minus `run_at`, in ms); `early` counts runs before it."""
    return {
        "min_ms": round(min(ms), 3),
        "p50_ms": round(pct(ms, 0.5), 3),
        "p99_ms": round(pct(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
        "early": sum(1 for x in ms if x < 0),
    }


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.01) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def sqlite_settings(app: tq.App) -> dict[str, Any]:
    with app.engine.connect() as connection:
        connection.info["tasquencer_read_only"] = True
        try:
            raw = connection.connection.driver_connection
            journal = raw.execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[union-attr]
            synchronous = raw.execute("PRAGMA synchronous").fetchone()[0]  # type: ignore[union-attr]
        finally:
            connection.info.pop("tasquencer_read_only", None)
    return {"journal_mode": journal, "synchronous": synchronous}


# --- throughput ------------------------------------------------------------------------------


def measure_throughput(kind: str, n: int, folder: Path, poll: float) -> dict[str, Any]:
    app = tq.App(f"sqlite:///{folder / f'throughput-{kind}.db'}")
    try:
        ran = 0
        lock = threading.Lock()

        def count_run() -> None:
            nonlocal ran
            with lock:
                ran += 1

        if kind == "mutation":

            @app.mutation(name="bench.noop_mutation")
            def noop(ctx: Any) -> None:
                count_run()

        else:

            @app.action(name="bench.noop_action")
            def noop(ctx: Any) -> None:
                count_run()

        @app.mutation(name="bench.schedule")
        def schedule(ctx: Any, count: int) -> None:
            for _ in range(count):
                ctx.scheduler.run_after(0, noop)

        for first in range(0, n, SCHEDULE_BATCH):
            app.run_mutation(schedule, count=min(SCHEDULE_BATCH, n - first))

        started = time.perf_counter()
        with app.start_worker(poll_interval=poll):
            # watch the in-process count first (no reads competing with the worker), then
            # the jobs table for the last job's own commit
            wait_until(lambda: ran == n, 60 + n / 20, f"{n} {kind} jobs to run")
            wait_until(lambda: count_jobs(app, "success") == n, 10, f"{n} {kind} jobs to settle")
            elapsed = time.perf_counter() - started
        failed = count_jobs(app, "failed")
        if ran != n or failed:
            raise AssertionError(f"{kind}: ran {ran} of {n} jobs, {failed} failed")
        return {
            "measurement": f"throughput {kind}",
            "n": n,
            "seconds": round(elapsed, 3),
            "jobs_per_s": round(n / elapsed, 1),
            "ms_per_job": round(elapsed / n * 1e3, 3),
            **sqlite_settings(app),
        }
    finally:
        app.close()


# --- timer lateness --------------------------------------------------------------------------


def measure_lateness(m: int, spread: float, folder: Path, poll: float) -> dict[str, Any]:
    app = tq.App(f"sqlite:///{folder / 'lateness.db'}")
    try:
        lateness: list[float] = []
        lock = threading.Lock()

        @app.mutation(name="bench.timer")
        def timer(ctx: Any, run_at: str) -> None:
            late = (datetime.now(UTC) - datetime.fromisoformat(run_at)).total_seconds()
            with lock:
                lateness.append(late)

        @app.mutation(name="bench.schedule_timers")
        def schedule(ctx: Any, offsets: list[float]) -> None:
            base = ctx.now() + timedelta(seconds=0.5)
            for offset in offsets:
                when = base + timedelta(seconds=offset)
                ctx.scheduler.run_at(when, timer, run_at=when.isoformat())

        rng = random.Random(1234)
        offsets = sorted(rng.uniform(0, spread) for _ in range(m))
        with app.start_worker(poll_interval=poll):
            time.sleep(0.2)  # the worker is idle, waiting on its poll interval
            app.run_mutation(schedule, offsets=offsets)
            wait_until(lambda: len(lateness) == m, spread + 30, f"{m} timers", poll=0.05)
        return {
            "measurement": "lateness",
            "m": m,
            "spread_s": spread,
            "poll_interval_s": poll,
            **lateness_stats([x * 1e3 for x in lateness]),
        }
    finally:
        app.close()


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, help="jobs per throughput measurement (default 2000)")
    parser.add_argument("--m", type=int, help="timers in the lateness measurement (default 200)")
    parser.add_argument("--spread", type=float, help="seconds the timers spread over (default 3)")
    parser.add_argument(
        "--poll", type=float, default=1.0, help="worker poll interval in seconds (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULTS
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.n < 1 or args.m < 1 or args.spread < 0 or args.poll <= 0:
        parser.error("--n and --m must be positive, --spread non-negative, --poll positive")
    return args


def report(results: list[dict[str, Any]], out: Console) -> None:
    table = Table(title="scheduled jobs, SQLite (WAL, synchronous=FULL), one in-process worker")
    table.add_column("measurement")
    table.add_column("size", justify="right")
    table.add_column("jobs/s", justify="right")
    table.add_column("ms/job", justify="right")
    table.add_column("lateness p50 / p99 / max ms", justify="right")
    table.add_column("min ms", justify="right")
    for r in results:
        if r["measurement"] == "lateness":
            table.add_row(
                r["measurement"],
                f"{r['m']} over {r['spread_s']}s",
                "",
                "",
                f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f}",
                f"{r['min_ms']:.1f}",
            )
        else:
            table.add_row(
                r["measurement"], str(r["n"]), f"{r['jobs_per_s']:.0f}", f"{r['ms_per_job']:.2f}"
            )
    out.print(table)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Console(width=max(Console().width, 120))
    folder = Path(tempfile.mkdtemp(prefix="tasquencer-jobs-bench-"))
    try:
        results = [
            measure_throughput("mutation", args.n, folder, args.poll),
            measure_throughput("action", args.n, folder, args.poll),
            measure_lateness(args.m, args.spread, folder, args.poll),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for result in results:
        print(json.dumps(result))
    report(results, out)
    return {
        "throughput": {r["measurement"].split()[1]: r for r in results[:2]},
        "lateness": results[2],
    }


if __name__ == "__main__":
    main()
