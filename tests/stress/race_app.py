"""The workflow `test_racing_clients.py` drives, and the client processes that race on it.

    STRESS_DB_URL=... RACE_CLIENT=c1 ... python -m tests.stress.race_app

The net (every task has one work item, created when the task is enabled):

    start -> a (XOR join, AND split) -> b1 -> [cb] -> j
                                     -> x (XOR split) -> x1 | x2 -> j
                                     -> o (OR split)  -> some of o1, o2, o3 -> j
    j (OR join, XOR split) -> a (once, for one workflow in three) | end

Routers decide from a seed stored with the workflow (`race_seeds`) and the task generation,
so a replay on another database takes the same paths. The work item's `on_started` and
`on_completed` activities insert a row into `race_transitions` (its own serial id, no unique
constraint: a transition applied twice would show as two rows), naming the client whose call
it was.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from collections import Counter
from typing import Any

import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder

TASKS = ("a", "b1", "x", "x1", "x2", "o", "o1", "o2", "o3", "j")
OPEN = ("initialized", "started")
# activity runs in this process, counting attempts that were rolled back and retried too
ACTIVITY_RUNS: Counter[str] = Counter()

DDL = {
    "postgresql": (
        "CREATE TABLE race_seeds (workflow_id TEXT PRIMARY KEY, seed INTEGER NOT NULL)",
        "CREATE TABLE race_transitions (id BIGSERIAL PRIMARY KEY, work_item_id TEXT NOT NULL,"
        " workflow_id TEXT NOT NULL, task_name TEXT NOT NULL, generation INTEGER NOT NULL,"
        " transition TEXT NOT NULL, client TEXT NOT NULL)",
    ),
    "sqlite": (
        "CREATE TABLE race_seeds (workflow_id TEXT PRIMARY KEY, seed INTEGER NOT NULL)",
        "CREATE TABLE race_transitions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " work_item_id TEXT NOT NULL, workflow_id TEXT NOT NULL, task_name TEXT NOT NULL,"
        " generation INTEGER NOT NULL, transition TEXT NOT NULL, client TEXT NOT NULL)",
    ),
}


def loops(seed: int) -> int:
    """How many times j routes back to a: once for one workflow in three."""
    return 1 if seed % 3 == 0 else 0


def _seed(ctx: Any) -> int:
    query = sa.text("SELECT seed FROM race_seeds WHERE workflow_id = :id")
    return int(ctx.db.execute(query, {"id": ctx.parent.workflow.id}).scalar_one())


def route_x(ctx: Any) -> Any:
    return ctx.route.to_task("x1" if (_seed(ctx) + ctx.task.generation) % 2 else "x2")


def route_o(ctx: Any) -> Any:
    mask = (_seed(ctx) // 2 + ctx.task.generation) % 7 + 1  # a non-empty subset of 3
    return [ctx.route.to_task(f"o{i + 1}") for i in range(3) if mask >> i & 1]


def route_j(ctx: Any) -> Any:
    if ctx.task.generation <= loops(_seed(ctx)):
        return ctx.route.to_task("a")
    return ctx.route.to_condition("end")


def _record(transition: str) -> Any:
    def activity(ctx: Any) -> None:
        client = os.environ.get("RACE_CLIENT", "local")
        ACTIVITY_RUNS[transition] += 1
        ctx.db.execute(
            sa.text(
                "INSERT INTO race_transitions"
                " (work_item_id, workflow_id, task_name, generation, transition, client)"
                " VALUES (:item, :wf, :task, :gen, :transition, :client)"
            ),
            {
                "item": ctx.work_item.id,
                "wf": ctx.parent.workflow.id,
                "task": ctx.parent.task.name,
                "gen": ctx.parent.task.generation,
                "transition": transition,
                "client": client,
            },
        )

    return activity


def _task(join: str = "and", split: str = "and") -> Any:
    item = Builder.work_item("item").with_activities(
        on_started=_record("start"), on_completed=_record("complete")
    )

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return (
        Builder.task(item)
        .with_join_type(join)
        .with_split_type(split)
        .with_activities(on_enabled=on_enabled)
    )


def definition() -> Any:
    return (
        Builder.workflow("race")
        .start_condition("start")
        .end_condition("end")
        .condition("cb")
        .task("a", _task(join="xor", split="and"))
        .task("b1", _task())
        .task("x", _task(split="xor"))
        .task("x1", _task())
        .task("x2", _task())
        .task("o", _task(split="or"))
        .task("o1", _task())
        .task("o2", _task())
        .task("o3", _task())
        .task("j", _task(join="or", split="xor"))
        .connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.task("b1").task("x").task("o"))
        .connect_task("b1", lambda to: to.condition("cb"))
        .connect_condition("cb", lambda to: to.task("j"))
        .connect_task("x", lambda to: to.task("x1").task("x2").route(route_x))
        .connect_task("x1", lambda to: to.task("j"))
        .connect_task("x2", lambda to: to.task("j"))
        .connect_task("o", lambda to: to.task("o1").task("o2").task("o3").route(route_o))
        .connect_task("o1", lambda to: to.task("j"))
        .connect_task("o2", lambda to: to.task("j"))
        .connect_task("o3", lambda to: to.task("j"))
        .connect_task("j", lambda to: to.task("a").condition("end").route(route_j))
    )


class Race:
    """The app with the race workflow registered, and the functions clients call."""

    def __init__(self, app: tq.App) -> None:
        self.app = app
        self.api = api = app.register(tq.versions("race").version("v1", definition())).api("v1")

        @app.mutation(name="race.create_workflow")
        def create_workflow(ctx: Any, seed: int) -> str:
            workflow_id: str = api.internal_initialize_root_workflow(ctx=ctx)
            ctx.db.execute(
                sa.text("INSERT INTO race_seeds (workflow_id, seed) VALUES (:id, :seed)"),
                {"id": workflow_id, "seed": seed},
            )
            return workflow_id

        @app.query(name="race.open_work_items")
        def open_work_items(ctx: Any) -> tuple[int, int, list[tuple[str, str]]]:
            """(workflows, completed workflows, open work items), read in one transaction."""
            found = api.list_workflows(ctx=ctx)
            items = [
                (item.id, item.state)
                for wf in found
                if wf.state != "completed"
                for item in api.list_work_items(wf.id, ctx=ctx)
                if item.state in OPEN
            ]
            done = sum(1 for wf in found if wf.state == "completed")
            return len(found), done, items

        self.create_workflow = create_workflow
        self.open_work_items = open_work_items

    def create_tables(self) -> None:
        with self.app.engine.begin() as connection:
            for statement in DDL[self.app.engine.dialect.name]:
                connection.exec_driver_sql(statement)


def client() -> int:
    """One racing client: creates its share of the workflows, then tries to start and complete
    every open work item of every workflow until all are completed. Writes what it saw."""
    name = os.environ["RACE_CLIENT"]
    index, clients = int(os.environ["RACE_INDEX"]), int(os.environ["RACE_CLIENTS"])
    total = int(os.environ["RACE_WORKFLOWS"])
    deadline = time.monotonic() + float(os.environ["RACE_SECONDS"])
    race = Race(tq.App(os.environ["STRESS_DB_URL"], auto_migrate=False))
    api = race.api
    to_create = list(range(index, total, clients))  # global seeds, one share per client
    wins: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    other: Counter[str] = Counter()
    samples: list[str] = []
    rounds = 0
    finished = False
    rng = random.Random(index)

    def attempt(operation: str, call: Any, item_id: str) -> bool:
        try:
            call(item_id)
        except tq.WorkItemInvalidStateError:
            losses[operation] += 1
            return False
        except Exception as error:
            other[f"{operation}: {type(error).__name__}"] += 1
            if len(samples) < 10:
                samples.append("".join(traceback.format_exception(error))[-3000:])
            return False
        wins[operation] += 1
        return True

    while time.monotonic() < deadline:
        rounds += 1
        if to_create:
            race.app.run_mutation(race.create_workflow, seed=to_create.pop(0))
        existing, done, items = race.app.run_query(race.open_work_items)
        if not to_create and existing == total and done == total:
            finished = True
            break
        if index % 2:  # half the clients go the other way round: they meet in the middle
            items.reverse()
        if not items:
            time.sleep(rng.uniform(0, 0.01))
        for item_id, state in items:
            # whoever loses the start still races for the completion
            if state == "initialized":
                attempt("start", api.internal_start_work_item, item_id)
            attempt("complete", api.internal_complete_work_item, item_id)
    result = {
        "client": name,
        "finished": finished,
        "rounds": rounds,
        "wins": wins,
        "losses": losses,
        "other": other,
        "samples": samples,
        "activity_runs": ACTIVITY_RUNS,
    }
    with open(os.environ["RACE_RESULT"], "w") as handle:
        json.dump(result, handle)
    race.app.close()
    return 0 if finished and not other else 1


if __name__ == "__main__":
    sys.exit(client())
