"""The app `test_worker_crash.py` runs in real `tasquencer worker` processes.

    CRASH_DB_URL=sqlite:///... tasquencer worker --app tests.runtime.crash_app:app
    CRASH_DB_URL=postgresql+psycopg://... tasquencer worker --app tests.runtime.crash_app:app

Mutations and actions record what they do, so the test can count side effects:
`crash_events` (one row per action attempt that got going), `crash_counters` (one row per key,
incremented by each run of `increment`) and one far-future `crash.marker` job per run of
`increment`.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

import tasquencer as tq

HANG_SECONDS = 60.0

app = tq.App(os.environ["CRASH_DB_URL"])

metadata = sa.MetaData()
sa.Table(
    "crash_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)
sa.Table(
    "crash_counters",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)
metadata.create_all(app.engine)  # the test imports this module before any worker starts


@app.mutation(name="crash.record_started")
def record_started(ctx, label: str, attempt: int) -> None:
    ctx.db.execute(
        sa.text("INSERT INTO crash_events (label, attempt, pid) VALUES (:label, :attempt, :pid)"),
        {"label": label, "attempt": attempt, "pid": os.getpid()},
    )


@app.mutation(name="crash.marker")
def marker(ctx, key: str) -> None:
    """Never due in a test: its job row is a second record of each `increment` that ran."""


@app.mutation(name="crash.increment")
def increment(ctx, key: str) -> None:
    """Counts its runs twice: a domain row (`ctx.db`) and a marker job (`ctx.scheduler`),
    both in the mutation's transaction."""
    ctx.scheduler.run_after(86_400, marker, key=key)
    ctx.db.execute(
        sa.text(
            "INSERT INTO crash_counters (key, value) VALUES (:key, 1)"
            " ON CONFLICT (key) DO UPDATE SET value = crash_counters.value + 1"
        ),
        {"key": key},
    )


@app.action(name="crash.hang")
def hang(ctx, label: str) -> None:
    """Records that it started, then runs far longer than the test waits."""
    ctx.run_mutation(record_started, label=label, attempt=ctx.attempt)
    time.sleep(HANG_SECONDS)
    ctx.run_mutation(increment, key=f"finished:{label}")


@app.action(
    name="crash.hang_then_succeed", retry=tq.Retry(attempts=3, initial_delay=0.2, max_delay=0.5)
)
def hang_then_succeed(ctx, label: str) -> None:
    """Hangs on its first attempt only; a retry finishes at once."""
    ctx.run_mutation(record_started, label=label, attempt=ctx.attempt)
    if ctx.attempt == 1:
        time.sleep(HANG_SECONDS)
    ctx.run_mutation(increment, key=f"finished:{label}")


@app.query(name="crash.events")
def events(ctx) -> list[tuple[str, int, int]]:
    rows = ctx.db.execute(sa.text("SELECT label, attempt, pid FROM crash_events ORDER BY id"))
    return [tuple(row) for row in rows]


@app.query(name="crash.counters")
def counters(ctx) -> dict[str, int]:
    rows = ctx.db.execute(sa.text("SELECT key, value FROM crash_counters"))
    return {key: value for key, value in rows}
