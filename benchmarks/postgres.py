"""tasquencer on PostgreSQL: workflow workloads, scheduled-job throughput with real worker
processes, timer lateness.

    .venv/bin/python benchmarks/postgres.py            # the default sizes (a few minutes)
    .venv/bin/python benchmarks/postgres.py --quick    # small sizes: well under a minute
    .venv/bin/python benchmarks/postgres.py --only throughput --workers 2 --n 5000

Measurements (each in a fresh schema of a database made for the run and dropped after it;
server from `--server`, default `$TASQUENCER_TEST_POSTGRES` or postgres@127.0.0.1:5432):

- `seq10` / `and10` / `or10`: the workloads and drivers of `engine_vs_peers.py` (imported from
  it), one instance after the other, on PostgreSQL. One call per human action; the p50/p99 are
  those of `internal_complete_work_item`. A few more instances then run with libpq's trace on
  (it costs CPU, so they are not timed): round trips, COMMITs and ROLLBACKs per call, as sent
  and answered on the wire.
- `throughput mutation|action xW`: N no-op jobs are scheduled due now, then W real
  `tasquencer worker` processes (`--concurrency 1` each) are started on them. Jobs per second
  = N / (last `finished_at` - first `started_at`), so process start-up is not counted. Each
  worker process counts, with a counter in the job's body, how many times it ran a mutation
  body: runs beyond N are SERIALIZABLE attempts that lost a conflict and were retried. The
  transactions committed and rolled back per job are the server's count for the database over
  the run (`pg_stat_database`; a statement run outside a transaction counts as one).
- `lateness`: W workers are started and left idle; M timer mutations are scheduled in one
  transaction with `run_at` spread (seeded) over `--spread` seconds, starting a second ahead.
  Each records `ctx.now()` (the app clock when its transaction began) - its intended `run_at`.

Goals on the 2-core machine this was written for: >= 1,000 scheduled no-op mutations per
second with 2 workers; timer lateness p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

import tasquencer as tq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import EXPECTED_ITEMS, WORKLOADS, TqRun, _result, build_workflow, pct
from jobs import lateness_stats, wait_until

HERE = Path(__file__).resolve().parent
TASQUENCER = Path(sys.executable).with_name("tasquencer")
SERVER = os.environ.get("TASQUENCER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
URL_ENV = "TQ_BENCH_PG_URL"  # the worker processes' database (a schema-scoped URL)
COUNTS_ENV = "TQ_BENCH_PG_COUNTS"  # folder where each worker process leaves its counts
PROFILE_ENV = "TQ_BENCH_PG_PROFILE"  # folder for cProfile output of each worker's job loop
SCHEDULE_BATCH = 1000
GOAL_JOBS_PER_S = 1000.0  # no-op mutations with 2 workers
GOAL_LATENESS_P99_MS = 100.0

DEFAULTS = {"n": 3000, "instances": 100, "m": 200, "spread": 3.0, "commits": 300}
QUICK = {"n": 300, "instances": 5, "m": 40, "spread": 1.0, "commits": 50}


# --- the functions the workers run (registered in this process and in every worker) ---------

COUNTS: Counter[str] = Counter()
_counts_lock = threading.Lock()


def _count(what: str) -> None:
    with _counts_lock:
        COUNTS[what] += 1


def register_jobs(app: tq.App) -> dict[str, Any]:
    @app.mutation(name="bench.noop_mutation")
    def noop_mutation(ctx: Any) -> None:
        _count("mutation_bodies")  # every attempt: retried ones too

    @app.action(name="bench.noop_action")
    def noop_action(ctx: Any) -> None:
        _count("action_bodies")

    @app.mutation(name="bench.timer")
    def timer(ctx: Any, intended: str) -> None:
        ctx.db.execute(
            sa.text("INSERT INTO bench_lateness (intended, actual) VALUES (:intended, :actual)"),
            {"intended": intended, "actual": ctx.now()},
        )

    @app.mutation(name="bench.schedule")
    def schedule(ctx: Any, kind: str, count: int) -> None:
        function = noop_mutation if kind == "mutation" else noop_action
        for _ in range(count):
            ctx.scheduler.run_after(0, function)

    @app.mutation(name="bench.schedule_timers")
    def schedule_timers(ctx: Any, offsets: list[float]) -> None:
        base = ctx.now() + timedelta(seconds=1.0)
        for offset in offsets:
            when = base + timedelta(seconds=offset)
            ctx.scheduler.run_at(when, timer, intended=when.isoformat())

    return {"schedule": schedule, "schedule_timers": schedule_timers}


class Wire:
    """What an engine's connections send and receive while `traced()` runs: libpq's trace of
    each connection checked out, read when the block ends."""

    def __init__(self, engine: sa.Engine, folder: Path) -> None:
        self.engine = engine
        self.path = folder / f"wire-{uuid.uuid4().hex[:8]}.trace"
        self.messages: list[tuple[str, str, str]] = []  # (direction, message, contents)

    @contextlib.contextmanager
    def traced(self) -> Iterator[Wire]:
        self.messages = []
        connections: list[Any] = []
        with self.path.open("w") as out:

            def on_checkout(dbapi_connection: Any, *_: Any) -> None:
                dbapi_connection.pgconn.trace(out.fileno())
                connections.append(dbapi_connection)

            sa.event.listen(self.engine, "checkout", on_checkout)
            try:
                yield self
            finally:
                sa.event.remove(self.engine, "checkout", on_checkout)
                for connection in connections:
                    connection.pgconn.untrace()
        for line in self.path.read_text().splitlines():
            fields = line.split("\t")  # time, direction, length, message, contents
            if len(fields) < 4:
                continue  # the rest of a message that spans lines
            _, direction, _, message, *contents = fields
            self.messages.append((direction, message.strip(), " ".join(contents).strip()))
        self.path.unlink()

    def round_trips(self) -> int:
        """Times the client sent something, then waited for the server's answer."""
        count, previous = 0, None
        for direction, _, _ in self.messages:
            count += direction == "B" and previous == "F"
            previous = direction
        return count

    def sent(self, message: str) -> list[str]:
        """The contents of each message of this kind the client sent ("Query", "Parse")."""
        return [c for d, m, c in self.messages if d == "F" and m == message]

    def completed(self, tag: str) -> int:
        """Commands the server reports done with this tag ("COMMIT", "ROLLBACK")."""
        done = f'"{tag}"'
        return sum(
            1
            for d, m, c in self.messages
            if d == "B" and m == "CommandComplete" and c.endswith(done)
        )


def server_transactions(db: Database) -> tuple[int, int]:
    """Transactions the server committed and rolled back in the database so far (every
    statement run outside a transaction counts as one), from `pg_stat_database` once it
    stops changing: backends report their counts when they go idle or exit."""
    last: tuple[int, int] | None = None
    for _ in range(50):
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            row = connection.exec_driver_sql(
                "SELECT xact_commit, xact_rollback FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).one()
        now = (int(row[0]), int(row[1]))
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    assert last is not None
    return last


def _worker_app() -> tq.App:
    """The app of a worker process: `tasquencer worker --app postgres:app` (cwd benchmarks/)."""
    app = tq.App(os.environ[URL_ENV], auto_migrate=False)
    register_jobs(app)
    folder = os.environ.get(COUNTS_ENV)
    if folder:
        atexit.register(_write_counts, Path(folder) / f"{os.getpid()}.json")
    if os.environ.get(PROFILE_ENV):
        _profile_serving(Path(os.environ[PROFILE_ENV]))
    return app


def _profile_serving(folder: Path) -> None:
    """Run each `Worker.serve` of this process under cProfile (the job loop; not the lease
    renewer thread), leaving one .prof file per worker in `folder`."""
    from tasquencer.runtime import worker as worker_module

    serve = worker_module.Worker.serve

    def profiled(self: Any, stop: threading.Event) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            serve(self, stop)
        finally:
            profiler.disable()
            profiler.dump_stats(folder / f"{os.getpid()}-{id(self):x}.prof")

    worker_module.Worker.serve = profiled  # type: ignore[method-assign]


def _write_counts(path: Path) -> None:
    path.write_text(json.dumps(COUNTS))


def __getattr__(name: str) -> Any:
    """`app` is made on first access only, in worker processes (the CLI's getattr)."""
    if name == "app":
        app = _worker_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


# --- databases and processes ----------------------------------------------------------------


class Database:
    """A database made for this run on the server; one fresh schema per measurement."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.name = f"tasquencer_bench_{os.getpid()}_{int(time.time())}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.url = f"{server}/{self.name}"
        self.engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(f"{self.server}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    @contextlib.contextmanager
    def schema(self) -> Iterator[str]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(self.url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')

    def set(self, name: str, value: str) -> None:
        """A setting for every later connection to this database (ALTER DATABASE ... SET)."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{self.name}" SET {name} = {value}')
        self.engine.dispose()

    def settings(self) -> dict[str, str]:
        names = ("server_version", "synchronous_commit", "fsync", "shared_buffers")
        with self.engine.connect() as connection:
            return {n: connection.exec_driver_sql(f"SHOW {n}").scalar_one() for n in names}

    def close(self) -> None:
        self.engine.dispose()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class WorkerProcesses:
    """W `tasquencer worker` processes on one schema; stopped with SIGTERM (clean exit)."""

    def __init__(
        self,
        url: str,
        count: int,
        folder: Path,
        poll: float,
        profile: Path | None = None,
        concurrency: int = 1,
    ) -> None:
        self.folder = folder
        env = {
            **os.environ,
            URL_ENV: url,
            COUNTS_ENV: str(folder),
            **({PROFILE_ENV: str(profile)} if profile else {}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        command = [
            str(TASQUENCER),
            "worker",
            "--app",
            "postgres:app",
            "--poll",
            str(poll),
            "--lease",
            "30",
            "--concurrency",
            str(concurrency),
        ]
        self.processes = []
        for i in range(count):
            with (folder / f"worker-{i}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )

    def stop(self) -> dict[str, int]:
        """Stop them all; returns the counts they left behind, summed."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        total: Counter[str] = Counter()
        for path in self.folder.glob("*.json"):
            total.update(json.loads(path.read_text()))
            path.unlink()
        return dict(total)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.folder.glob("*.log"))


def scalar(app: tq.App, query: str) -> Any:
    with app.engine.connect() as connection:
        return connection.exec_driver_sql(query).scalar_one()


# --- workflow workloads ---------------------------------------------------------------------


class PgRun(TqRun):
    """`engine_vs_peers.TqRun` (its drivers and checks) on a PostgreSQL schema."""

    def __init__(self, workload: str, url: str, auto_start: bool) -> None:
        self.workload = workload
        self.auto_start = auto_start
        self.ids: list[str] = []
        self.app = tq.App(url)
        definition = build_workflow(workload, self.ids, auto_start)
        versions = self.app.register(tq.versions(workload).version("v1", definition))
        self.api = versions.api("v1")


def measure_workload(
    db: Database, workload: str, n: int, warmup: int, traced: int = 3
) -> dict[str, Any]:
    """n instances timed, then `traced` more on the wire (libpq's trace costs CPU): the round
    trips, COMMITs and ROLLBACKs per call."""
    with db.schema() as url, tempfile.TemporaryDirectory() as folder:
        run = PgRun(workload, url, auto_start=True)
        try:
            if warmup:
                run.check(run.drive(warmup, [], []), warmup, EXPECTED_ITEMS[workload] * warmup)
            latencies: list[float] = []
            started = time.perf_counter()
            workflow_ids = run.drive(n, latencies, [])
            elapsed = time.perf_counter() - started
            run.check(workflow_ids, n, len(latencies))
            wire = Wire(run.app.engine, Path(folder))
            traced_items: list[float] = []
            with wire.traced():
                run.drive(traced, traced_items, [])
        finally:
            run.close()
    calls = n + len(latencies)  # one initialize per instance, one completion per item
    traced_calls = traced + len(traced_items)
    return _result(
        "tq postgresql",
        workload,
        n,
        elapsed,
        latencies,
        calls_per_s=round(calls / elapsed, 1),
        # on the wire, over the traced instances
        round_trips_per_call=round(wire.round_trips() / traced_calls, 2),
        commits_per_call=round(wire.completed("COMMIT") / traced_calls, 2),
        rollbacks_per_call=round(wire.completed("ROLLBACK") / traced_calls, 2),
    )


# --- the floor: bare durable commits ---------------------------------------------------------


def measure_commit_floor(db: Database, connections: int, commits: int) -> dict[str, Any]:
    """`connections` threads, each committing one-row UPDATEs of its own row (own connection)
    as fast as it can: the rate a worker count could reach at one durable commit per job.
    fsync latency drifts on shared machines, so this runs right before what it is compared
    with."""
    with db.schema() as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE floor (id INT PRIMARY KEY, v INT)")
                connection.exec_driver_sql(
                    f"INSERT INTO floor SELECT g, 0 FROM generate_series(1, {connections}) g"
                )
            latencies: list[float] = []
            lock = threading.Lock()
            statement = sa.text("UPDATE floor SET v = :v WHERE id = :id")

            def commit_many(row: int) -> None:
                mine = []
                with engine.connect() as connection:
                    for i in range(commits):
                        t0 = time.perf_counter()
                        connection.execute(statement, {"v": i, "id": row})
                        connection.commit()
                        mine.append(time.perf_counter() - t0)
                with lock:
                    latencies.extend(mine)

            threads = [
                threading.Thread(target=commit_many, args=(row,))
                for row in range(1, connections + 1)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            engine.dispose()
    return {
        "measurement": "commit floor",
        "connections": connections,
        "commits": len(latencies),
        "commits_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.5) * 1e3, 3),
        "p99_ms": round(pct(latencies, 0.99) * 1e3, 3),
    }


# --- scheduled-job throughput ---------------------------------------------------------------


def measure_throughput(
    db: Database,
    kind: str,
    workers: int,
    n: int,
    poll: float,
    folder: Path,
    profile: Path | None = None,
    concurrency: int = 1,
) -> dict[str, Any]:
    with db.schema() as url:
        app = tq.App(url)
        try:
            functions = register_jobs(app)
            for first in range(0, n, SCHEDULE_BATCH):
                count = min(SCHEDULE_BATCH, n - first)
                app.run_mutation(functions["schedule"], kind=kind, count=count)
            before = server_transactions(db)
            processes = WorkerProcesses(url, workers, folder, poll, profile, concurrency)
            try:
                wait_until(
                    lambda: (
                        scalar(
                            app,
                            "SELECT count(*) FROM tasquencer_jobs"
                            " WHERE function LIKE 'bench.noop%%'"
                            " AND state IN ('pending', 'in_progress')",
                        )
                        == 0
                    ),
                    120 + n / 50,
                    f"{n} {kind} jobs",
                    poll=0.1,
                )
            finally:
                counts = processes.stop()
            after = server_transactions(db)
            with app.engine.connect() as connection:
                row = connection.exec_driver_sql(
                    "SELECT count(*), sum(attempts),"
                    " extract(epoch FROM max(finished_at) - min(started_at))"
                    " FROM tasquencer_jobs WHERE function LIKE 'bench.noop%%'"
                    " AND state = 'success'"
                ).one()
        finally:
            app.close()
    done, attempts, seconds = int(row[0]), int(row[1]), float(row[2])
    if done != n:
        raise AssertionError(f"{kind} x{workers}: {done} of {n} jobs succeeded")
    bodies = counts.get(f"{kind}_bodies", 0)
    return {
        "measurement": f"throughput {kind}",
        "workers": workers,
        "threads_per_worker": concurrency,
        "n": n,
        "seconds": round(seconds, 3),
        "jobs_per_s": round(n / seconds, 1),
        "ms_per_job_per_worker": round(seconds * workers / n * 1e3, 3),
        "claims_per_job": round(attempts / n, 3),
        "bodies_per_job": round(bodies / n, 3),
        "retries": max(0, bodies - n) if kind == "mutation" else None,
        # the server's count over the run: the workers' transactions and one-statement calls
        "server_commits_per_job": round((after[0] - before[0]) / n, 2),
        "server_rollbacks_per_job": round((after[1] - before[1]) / n, 2),
    }


# --- timer lateness -------------------------------------------------------------------------


def measure_lateness(
    db: Database, workers: int, m: int, spread: float, poll: float, folder: Path
) -> dict[str, Any]:
    with db.schema() as url:
        app = tq.App(url)
        try:
            functions = register_jobs(app)
            with app.engine.begin() as connection:
                connection.exec_driver_sql(
                    "CREATE TABLE bench_lateness (id BIGSERIAL PRIMARY KEY,"
                    " intended TIMESTAMPTZ NOT NULL, actual TIMESTAMPTZ NOT NULL)"
                )
            processes = WorkerProcesses(url, workers, folder, poll)
            try:
                time.sleep(3.0)  # started, idle, waiting on their poll interval
                rng = random.Random(1234)
                offsets = sorted(rng.uniform(0, spread) for _ in range(m))
                app.run_mutation(functions["schedule_timers"], offsets=offsets)
                wait_until(
                    lambda: scalar(app, "SELECT count(*) FROM bench_lateness") >= m,
                    spread + 60,
                    f"{m} timers",
                    poll=0.1,
                )
            finally:
                processes.stop()
            with app.engine.connect() as connection:
                late = [
                    float(x) * 1e3
                    for (x,) in connection.exec_driver_sql(
                        "SELECT extract(epoch FROM actual - intended) FROM bench_lateness"
                    )
                ]
        finally:
            app.close()
    if len(late) != m:
        raise AssertionError(f"{len(late)} timer runs recorded for {m} timers")
    return {
        "measurement": "lateness",
        "workers": workers,
        "m": m,
        "spread_s": spread,
        "poll_s": poll,
        **lateness_stats(late),
    }


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--server", default=SERVER, help="PostgreSQL server URL, no database name")
    ap.add_argument("--n", type=int, help="jobs per throughput measurement (3000)")
    ap.add_argument("--instances", type=int, help="workflow instances per workload (100)")
    ap.add_argument("--m", type=int, help="timers in the lateness measurement (200)")
    ap.add_argument("--spread", type=float, help="seconds the timers spread over (3)")
    ap.add_argument(
        "--commits", type=int, help="bare commits per connection in each commit floor (300)"
    )
    ap.add_argument("--poll", type=float, default=0.2, help="worker poll interval (0.2 s)")
    ap.add_argument(
        "--workers", default="1,2,4", help="worker process counts for throughput (1,2,4)"
    )
    ap.add_argument("--concurrency", type=int, default=1, help="threads per worker process (1)")
    ap.add_argument("--lateness-workers", type=int, default=2, help="workers for lateness (2)")
    ap.add_argument(
        "--only",
        default="workloads,throughput,lateness",
        help="comma-separated: workloads, throughput, lateness",
    )
    ap.add_argument("--kinds", default="mutation,action", help="job kinds for throughput")
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the job loop of the workers in the no-op mutation throughput runs "
        "(--workers counts) and print where the time goes",
    )
    ap.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default=None,
        help="set synchronous_commit for the benchmark database; 'off' is NOT durable, it "
        "shows what is left when commits do not wait for the WAL flush",
    )
    ap.add_argument("--json-out", help="also write every JSON line to this file")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULTS
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not args.only <= {"workloads", "throughput", "lateness"}:
        ap.error(f"unknown --only parts: {args.only}")
    if min(args.n, args.m, args.instances, args.commits, args.concurrency, *args.workers) < 1:
        ap.error("sizes and worker counts must be positive")
    return args


def render(out: Console, results: list[dict[str, Any]]) -> None:
    """Each measurement is shown with the bare commit floor measured right before it."""
    floor: dict[str, Any] = {}
    workloads, throughput = [], []
    for r in results:
        if r["measurement"] == "commit floor":
            floor = r
        elif r["measurement"] == "tq postgresql":
            workloads.append((r, floor))
        elif r["measurement"].startswith("throughput"):
            throughput.append((r, floor))
    if workloads:
        table = Table(title="workflow workloads on PostgreSQL (one driver, serial instances)")
        columns = ("workload", "inst/s", "calls/s", "p50 ms", "p99 ms", "round trips/call")
        for col in (*columns, "bare commit p50 ms"):
            table.add_column(col, justify="left" if col == "workload" else "right")
        for r, f in workloads:
            table.add_row(
                r["workload"],
                f"{r['inst_per_s']:.1f}",
                f"{r['calls_per_s']:.1f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['round_trips_per_call']:.2f}",
                f"{f.get('p50_ms', 0):.2f}",
            )
        out.print(table)
    if throughput:
        table = Table(title="scheduled no-op jobs, real worker processes")
        columns = ("kind", "workers", "n", "jobs/s", "claims/job", "bodies/job", "retries")
        extra = ("server commits/job", "rollbacks/job", "bare commits/s, same concurrency")
        for col in (*columns, *extra):
            table.add_column(col, justify="left" if col == "kind" else "right")
        for r, f in throughput:
            table.add_row(
                r["measurement"].split()[1],
                f"{r['workers']}x{r['threads_per_worker']}",
                str(r["n"]),
                f"{r['jobs_per_s']:.0f}",
                f"{r['claims_per_job']:.2f}",
                f"{r['bodies_per_job']:.2f}",
                "" if r["retries"] is None else str(r["retries"]),
                f"{r['server_commits_per_job']:.2f}",
                f"{r['server_rollbacks_per_job']:.2f}",
                f"{f.get('commits_per_s', 0):.0f}",
            )
        out.print(table)
    for r in results:
        if r["measurement"] == "lateness":
            out.print(
                f"timer lateness, {r['workers']} workers, {r['m']} timers over {r['spread_s']}s:"
                f" p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms,"
                f" min {r['min_ms']:.1f} ms, early {r['early']}",
                highlight=False,
            )


def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for r in results:
        if r["measurement"] == "throughput mutation" and r["workers"] == 2:
            threads = r["threads_per_worker"]
            lines.append(
                {
                    "goal": f"no-op mutations/s with 2 workers (x{threads} threads) "
                    f">= {GOAL_JOBS_PER_S:g}",
                    "value": r["jobs_per_s"],
                    "met": r["jobs_per_s"] >= GOAL_JOBS_PER_S,
                }
            )
        if r["measurement"] == "lateness":
            lines.append(
                {
                    "goal": f"timer lateness p99 < {GOAL_LATENESS_P99_MS:g} ms",
                    "value": r["p99_ms"],
                    "met": r["p99_ms"] < GOAL_LATENESS_P99_MS,
                }
            )
    return lines


def run_profile(db: Database, args: argparse.Namespace, folder: Path, out: Console) -> None:
    for workers in args.workers:
        profiles = folder / f"profile-{workers}"
        profiles.mkdir()
        result = measure_throughput(db, "mutation", workers, args.n, args.poll, folder, profiles)
        print(json.dumps({**result, "profiled": True}), flush=True)
        files = [str(p) for p in profiles.glob("*.prof")]
        for order in ("tottime", "cumulative"):
            stream = io.StringIO()
            pstats.Stats(*files, stream=stream).sort_stats(order).print_stats(30)
            out.print(
                f"no-op mutations, {workers} worker(s), {args.n} jobs, under the profiler "
                f"{result['jobs_per_s']:.0f} jobs/s; job loops of the workers by {order}:",
                highlight=False,
            )
            out.print(stream.getvalue(), soft_wrap=True, highlight=False, markup=False)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Console(width=max(Console().width, 140))
    err = Console(stderr=True)
    db = Database(args.server)
    results: list[dict[str, Any]] = []

    def emit(line: dict[str, Any]) -> None:
        results.append(line)
        print(json.dumps(line), flush=True)

    if args.synchronous_commit:
        db.set("synchronous_commit", args.synchronous_commit)
    meta = {"meta": True, "cpus": os.cpu_count(), **db.settings(), "poll_s": args.poll}
    print(json.dumps(meta), flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="tq-bench-pg-") as tmp:
            folder = Path(tmp)
            if args.profile:
                run_profile(db, args, folder, out)
                return {"meta": meta, "results": [], "goals": []}
            if "workloads" in args.only:
                for workload in WORKLOADS:
                    err.print(f"workload {workload} x{args.instances}", highlight=False)
                    emit(measure_commit_floor(db, 1, args.commits))
                    emit(measure_workload(db, workload, args.instances, warmup=2))
            if "throughput" in args.only:
                for kind in args.kinds:
                    for workers in args.workers:
                        err.print(f"throughput {kind} x{workers}: {args.n} jobs", highlight=False)
                        threads = workers * args.concurrency
                        emit(measure_commit_floor(db, threads, args.commits))
                        emit(
                            measure_throughput(
                                db, kind, workers, args.n, args.poll, folder, None, args.concurrency
                            )
                        )
            if "lateness" in args.only:
                err.print(f"lateness: {args.m} timers", highlight=False)
                emit(
                    measure_lateness(
                        db, args.lateness_workers, args.m, args.spread, args.poll, folder
                    )
                )
    finally:
        db.close()
    goal_lines = goals(results)
    for line in goal_lines:
        print(json.dumps(line), flush=True)
    render(out, results)
    for line in goal_lines:
        mark = "[green]met[/]" if line["met"] else "[red]NOT met[/]"
        out.print(f"goal: {line['goal']}: {line['value']} {mark}")
    if args.json_out:
        with open(args.json_out, "w") as handle:
            for line in [meta, *results, *goal_lines]:
                handle.write(json.dumps(line) + "\n")
    return {"meta": meta, "results": results, "goals": goal_lines}


if __name__ == "__main__":
    main()
