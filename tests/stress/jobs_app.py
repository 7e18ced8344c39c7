"""The app `test_workers_killed.py` runs in real `tasquencer worker` processes.

    STRESS_DB_URL=postgresql+psycopg://...?options=-csearch_path%3D... \
        tasquencer worker --app tests.stress.jobs_app:app

Every effect is recorded in a way that makes a second application visible: `stress_applied`
gets a row (with its own serial id) per application of a `stress.apply` mutation, and
`stress_counters` counts them per key; `stress_action_events` gets a row each time an action
attempt gets going (`start`, recorded through a mutation at the very start of the action) and
each time one gets to its end (`finish`), with the attempt number.

`stress.slow_apply` (a mutation that waits inside its transaction) and `stress.poison` (a
mutation that SIGKILLs its own worker) serve the targeted tests next to the random one.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import sqlalchemy as sa

import tasquencer as tq

# Retried quickly, so that kills and deliberate first-attempt failures settle within the test.
RETRY = tq.Retry(attempts=20, initial_delay=0.05, max_delay=0.5)

app = tq.App(os.environ["STRESS_DB_URL"])

DDL = (
    "CREATE TABLE stress_applied ("
    " id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL)",
    "CREATE TABLE stress_counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE stress_action_events ("
    " id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, job_id TEXT NOT NULL, event TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, pid INTEGER NOT NULL)",
)


def create_tables() -> None:
    """Run once by the test, before any worker starts (concurrent DDL would race)."""
    with app.engine.begin() as connection:
        for statement in DDL:
            connection.exec_driver_sql(statement)


@app.mutation(name="stress.apply")
def apply(ctx: Any, key: str) -> None:
    ctx.db.execute(
        sa.text("INSERT INTO stress_applied (key, pid) VALUES (:key, :pid)"),
        {"key": key, "pid": os.getpid()},
    )
    ctx.db.execute(
        sa.text(
            "INSERT INTO stress_counters AS c (key, value) VALUES (:key, 1)"
            " ON CONFLICT (key) DO UPDATE SET value = c.value + 1"
        ),
        {"key": key},
    )


@app.mutation(name="stress.slow_apply")
def slow_apply(ctx: Any, key: str, seconds: float) -> None:
    """`apply`, then a wait inside the transaction (a heavy mutation)."""
    apply(ctx, key=key)
    ctx.db.execute(sa.text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


@app.mutation(name="stress.poison")
def poison(ctx: Any) -> None:
    """Takes its worker down with it, as a mutation that exhausts memory would."""
    os.kill(os.getpid(), signal.SIGKILL)


@app.mutation(name="stress.record_event")
def record_event(ctx: Any, key: str, job_id: str, event: str, attempt: int) -> None:
    ctx.db.execute(
        sa.text(
            "INSERT INTO stress_action_events (key, job_id, event, attempt, pid)"
            " VALUES (:key, :job_id, :event, :attempt, :pid)"
        ),
        {"key": key, "job_id": job_id, "event": event, "attempt": attempt, "pid": os.getpid()},
    )


def _act(ctx: Any, key: str, work: float, fail_first: bool) -> None:
    ctx.run_mutation(record_event, key=key, job_id=ctx.job_id, event="start", attempt=ctx.attempt)
    time.sleep(work)
    if fail_first and ctx.attempt == 1:
        raise RuntimeError(f"{key}: the first attempt fails on purpose")
    ctx.run_mutation(record_event, key=key, job_id=ctx.job_id, event="finish", attempt=ctx.attempt)


@app.action(name="stress.once")
def once(ctx: Any, key: str, work: float) -> None:
    """At most once (no retry policy)."""
    _act(ctx, key, work, False)


@app.action(name="stress.retrying", retry=RETRY)
def retrying(ctx: Any, key: str, work: float, fail_first: bool = False) -> None:
    """At least once."""
    _act(ctx, key, work, fail_first)


@app.mutation(name="stress.schedule")
def schedule(ctx: Any, plan: list[dict[str, Any]]) -> list[str]:
    """Schedules one job per entry of the plan: `{"kind", "key", "delay", ...}`."""
    functions = {"apply": apply, "once": once, "retrying": retrying}
    ids = []
    for entry in plan:
        kwargs = {k: v for k, v in entry.items() if k not in ("kind", "delay")}
        ids.append(ctx.scheduler.run_after(entry["delay"], functions[entry["kind"]], **kwargs))
    return ids
