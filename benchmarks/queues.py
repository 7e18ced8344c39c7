"""Work queues on SQLite: `available_for(user)` over many open work items, and what start-and-
claim costs next to a plain start.

    .venv/bin/python benchmarks/queues.py            # 100,000 open work items, 2,000 starts
    .venv/bin/python benchmarks/queues.py --quick    # a few seconds
    .venv/bin/python benchmarks/queues.py --items 20000 --starts 500

Measurements (each on a fresh database file; synchronous=OFF while filling and timing, so the
numbers are the engine's and SQLite's CPU, not the disk's):

- `available_for`: `--items` work items are created through the engine (100 per workflow
  instance, each offered when created): 60% to one of 200 groups, 30% to one of 50 scopes,
  10% to one of 1,000 users, with priorities 0-9 and half with a due date. The user is a
  member of 5 groups and holds 2 scopes (through 2 roles), so about 2,700 work items reach
  them. Timed: `app.queues.available_for(user)` (a first page of 50, in its own read
  transaction: the user's access, then one query), wall clock, p50 / p95 / max over
  `--runs` calls. The query's `EXPLAIN QUERY PLAN` is printed.
- `start`: CPU time (`time.process_time`) per call, each call on its own work item, 100 work
  items per task: `internal_start_work_item` of a work item without an offer (`plain`),
  `start_work_item(user=...)` passing a `require_scope` policy (`policy`), and the same on a
  work item offered to the user's scope, which claims it in the same transaction (`claim`).
  The variants take turns for `--rounds` rounds (`--starts` calls in all); each variant's best
  round is reported, so that other processes on the machine weigh on none of them. The ratios
  `claim / plain` and `claim / policy` are printed.

Results are printed as a table and as JSON lines (`{"measurement": ...}`); `main()` returns
them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

import tasquencer as tq
from tasquencer import Builder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import pct

PER_WORKFLOW = 100
GROUPS, SCOPES, USERS = 200, 50, 1000
MODULE = tq.scopes("bench")
for _i in range(SCOPES):
    MODULE = MODULE.scope(f"s{_i}")
USER = tq.User("u0")
QUICK = {"items": 5000, "starts": 300, "runs": 50, "rounds": 3}
DEFAULTS = {"items": 100_000, "starts": 4000, "runs": 200, "rounds": 10}


def open_app(folder: Path, name: str) -> tq.App:
    return tq.App(
        f"sqlite:///{folder / name}", sqlite_synchronous="OFF", auth=tq.Auth(scopes=[MODULE])
    )


def staff(app: tq.App) -> None:
    """200 groups, a role per scope; the user is in 5 groups and holds 2 scopes."""
    for i in range(SCOPES):
        app.auth.create_role(f"r{i}", [f"bench:s{i}"])
    for i in range(GROUPS):
        app.auth.create_group(f"g{i}")
    for i in (3, 50, 97, 140, 199):
        app.auth.add_member(f"g{i}", USER.id)
    app.auth.assign_role("r0", user_id=USER.id)
    app.auth.assign_role("r1", user_id=USER.id)


def many_items(ctx: tq.TaskActivityContext) -> None:
    for _ in range(PER_WORKFLOW):
        ctx.work_item.initialize()


def workflow(name: str, item: Any) -> Any:
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("work", Builder.task(item).with_activities(on_enabled=many_items))
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )


def fill(app: tq.App, items: int) -> float:
    """Create `items` offered work items; returns the seconds it took."""
    rng = random.Random(7)
    now = app.clock.now()

    def offer(ctx: tq.WorkItemActivityContext) -> tq.Offer:
        draw = rng.random()
        priority = rng.randrange(10)
        due = now + timedelta(hours=rng.randrange(1, 500)) if rng.random() < 0.5 else None
        if draw < 0.6:
            return tq.Offer.to_group(f"g{rng.randrange(GROUPS)}", priority=priority, due_at=due)
        if draw < 0.9:
            return tq.Offer.to_scope(f"bench:s{rng.randrange(SCOPES)}", priority=priority)
        return tq.Offer.to_user(f"u{rng.randrange(USERS)}", priority=priority, due_at=due)

    item = Builder.work_item("item").with_offer(offer)
    api = app.register(tq.versions("queued").version("v1", workflow("queued", item))).api("v1")
    began = time.perf_counter()
    for _ in range(items // PER_WORKFLOW):
        api.internal_initialize_root_workflow()
    return time.perf_counter() - began


def measure_queue(app: tq.App, runs: int) -> dict[str, Any]:
    for _ in range(5):
        page = app.queues.available_for(USER)
    query = traced_page_query(app)
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        page = app.queues.available_for(USER)
        timings.append((time.perf_counter() - began) * 1000)
    reached = len(app.queues.available_for(USER, limit=1000))
    with app.engine.connect() as connection:
        raw = connection.connection.driver_connection
        plan = [row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {query}")]  # type: ignore[union-attr]
        counted = connection.execute(
            sa.text("SELECT count(*) FROM tasquencer_work_item_offers")
        ).scalar_one()
    return {
        "measurement": "available_for",
        "open_work_items": counted,
        "page": len(page),
        "reaching_the_user_first_1000": reached,
        "p50_ms": round(pct(timings, 0.5), 3),
        "p95_ms": round(pct(timings, 0.95), 3),
        "max_ms": round(max(timings), 3),
        "plan": plan,
    }


def traced_page_query(app: tq.App) -> str:
    """The SQL of one `available_for` page, as SQLite ran it (values filled in)."""
    traced: list[str] = []

    def trace(connection: Any, _record: Any) -> None:
        connection.set_trace_callback(traced.append)

    sa.event.listen(app.engine, "connect", trace)
    app.engine.dispose()
    try:
        app.queues.available_for(USER)
    finally:
        sa.event.remove(app.engine, "connect", trace)
        app.engine.dispose()
    return next(sql for sql in traced if "UNION ALL" in sql and "work_item_offers" in sql)


def measure_starts(folder: Path, starts: int, rounds: int) -> dict[str, Any]:
    """CPU per start, each variant's best round: the variants take turns, round after round,
    so a busy machine slows them alike and the best round shows the cost itself."""
    app = open_app(folder, "starts.db")
    try:
        staff(app)
        scope = tq.require_scope("bench:s0")
        guarded = Builder.work_item_actions().start(policy=scope)
        variants = {
            "plain": Builder.work_item("item"),
            "policy": Builder.work_item("item").with_actions(guarded),
            "claim": Builder.work_item("item")
            .with_offer(tq.Offer.to_scope("bench:s0"))
            .with_actions(guarded),
        }
        apis = {
            name: app.register(tq.versions(name).version("v1", workflow(name, item))).api("v1")
            for name, item in variants.items()
        }
        best = dict.fromkeys(variants, float("inf"))
        per_round = max(1, starts // rounds // PER_WORKFLOW)
        for _ in range(rounds):
            for name, api in apis.items():
                ids = []
                for _ in range(per_round):
                    workflow_id = api.internal_initialize_root_workflow()
                    ids.extend(w.id for w in api.list_work_items(workflow_id))
                began = time.process_time()
                for work_item_id in ids:
                    if name == "plain":
                        api.internal_start_work_item(work_item_id)
                    else:
                        api.start_work_item(work_item_id, user=USER)
                best[name] = min(best[name], (time.process_time() - began) / len(ids))
        if app.queues.claimed_by(USER, limit=1)[0].claimed_by != USER.id:
            raise AssertionError("start-and-claim did not claim")
        result: dict[str, Any] = {"measurement": "start", "starts": starts, "rounds": rounds}
        result.update({f"{name}_us": round(value * 1e6, 1) for name, value in best.items()})
        result["claim_over_plain"] = round(best["claim"] / best["plain"], 2)
        result["claim_over_policy"] = round(best["claim"] / best["policy"], 2)
        return result
    finally:
        app.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--items", type=int)
    parser.add_argument("--starts", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    sizes.update({k: v for k, v in vars(args).items() if k in sizes and v is not None})
    folder = Path(tempfile.mkdtemp(prefix="tq-queues-"))
    app = open_app(folder, "queues.db")
    try:
        staff(app)
        filled = fill(app, sizes["items"])
        queue = measure_queue(app, sizes["runs"])
        queue["fill_s"] = round(filled, 1)
    finally:
        app.close()
    starts = measure_starts(folder, sizes["starts"], sizes["rounds"])
    report(queue, starts)
    return {"available_for": queue, "start": starts}


def report(queue: dict[str, Any], starts: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="work queues on SQLite")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    table.add_row("open work items", f"{queue['open_work_items']:,}")
    table.add_row("reaching the user (first 1000)", str(queue["reaching_the_user_first_1000"]))
    for key in ("p50_ms", "p95_ms", "max_ms"):
        table.add_row(f"available_for {key[:-3]} (ms, page of {queue['page']})", str(queue[key]))
    for key in ("plain_us", "policy_us", "claim_us"):
        table.add_row(f"start {key[:-3]} (CPU µs per call)", str(starts[key]))
    table.add_row("claim + start / plain internal start", str(starts["claim_over_plain"]))
    table.add_row("claim + start / start through the policy", str(starts["claim_over_policy"]))
    console.print(table)
    console.print("EXPLAIN QUERY PLAN of available_for:")
    for line in queue["plan"]:
        console.print(f"  {line}")
    for line in (queue, starts):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
