"""Migrations per second against completions, in one run on one SQLite file.

    .venv/bin/python benchmarks/migration.py              # n=200 instances, 3 rounds
    .venv/bin/python benchmarks/migration.py --quick      # seconds (the smoke test)

A 10-task sequence; every instance has its first 5 tasks done on v1. v2 is the same sequence
(one more task at the end), its migrators fast-forward the tasks v1 completed. Measured, per
round: `app.migrate(id, to_version="v2")` on fresh instances, and the completion call of the
next task on other, unmigrated instances (the same shape of instance, the same database):
wall time (median and p99) and CPU (process time) per call, and their ratio (goal: a migration
costs at most 3 completions). SQLite in the default durable mode (WAL, synchronous=FULL).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import tasquencer as tq
from tasquencer import Builder

WIDTH = 10
DONE = 5


def sequence(width: int, ids: list[str]) -> tq.builder.WorkflowBuilder:
    def started(ctx: tq.WorkItemActivityContext) -> None:
        ids.append(ctx.work_item.id)
        ctx.work_item.start()

    def create(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize()

    item = Builder.work_item("item").with_activities(on_initialized=started)
    wf = Builder.workflow("seq").start_condition("start").end_condition("end")
    names = [f"t{i}" for i in range(width)]
    for name in names:
        wf = wf.task(name, Builder.task(item).with_activities(on_enabled=create))
    wf = wf.connect_condition("start", lambda to: to.task(names[0]))
    for first, second in itertools.pairwise(names):
        wf = wf.connect_task(first, lambda to, second=second: to.task(second))  # type: ignore[misc]
    return wf.connect_task(names[-1], lambda to: to.condition("end"))


def done_so_far(ctx: tq.TaskMigratorContext) -> tq.MigrationMode:
    """Fast-forward what the old instance completed (read from its task states)."""
    states = versions_api["v1"].get_workflow_task_states(ctx.migrating_from_workflow.id, ctx=ctx)
    done = states.get(ctx.task.name) == "completed"
    return tq.MigrationMode.FAST_FORWARD if done else tq.MigrationMode.CONTINUE


versions_api: dict[str, tq.WorkflowApi] = {}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepared(api: tq.WorkflowApi, ids: list[str], n: int) -> list[tuple[str, str]]:
    """n instances with their first DONE tasks completed: (instance id, next work item id)."""
    prepared = []
    for _ in range(n):
        ids.clear()
        workflow_id = api.internal_initialize_root_workflow()
        for _ in range(DONE):
            api.internal_complete_work_item(ids.pop())
        prepared.append((workflow_id, ids.pop()))
    return prepared


def measure(calls: list[Any]) -> tuple[list[float], float]:
    wall: list[float] = []
    cpu = time.process_time()
    for call in calls:
        began = time.perf_counter()
        call()
        wall.append(time.perf_counter() - began)
    return wall, (time.process_time() - cpu) / len(calls)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results: list[dict[str, float]] = []
    n, rounds = (10, 1) if args.quick else (args.n, args.rounds)
    ids: list[str] = []
    v1, v2 = sequence(WIDTH, ids), sequence(WIDTH + 1, ids)
    migrators = {f"seq/t{i}": done_so_far for i in range(WIDTH + 1)}
    folder = Path(tempfile.mkdtemp(prefix="tasquencer-bench-"))
    with tq.App(f"sqlite:///{folder / 'migration.db'}") as app:
        versions = app.register(
            tq.versions("seq")
            .version("v1", v1)
            .version("v2", v2)
            .with_migration("v1->v2", tq.migrate(v1, v2).with_task_migrators(migrators))
        )
        versions_api.update(v1=versions.api("v1"), v2=versions.api("v2"))
        api = versions_api["v1"]
        prepared(api, ids, 3)  # warm-up
        for round_number in range(1, rounds + 1):
            to_migrate = prepared(api, ids, n)
            to_complete = prepared(api, ids, n)
            migrations, migration_cpu = measure(
                [lambda w=w: app.migrate(w, to_version="v2") for w, _ in to_migrate]
            )
            check(versions_api["v2"], [w for w, _ in to_migrate])
            completions, completion_cpu = measure(
                [lambda i=i: api.internal_complete_work_item(i) for _, i in to_complete]
            )
            m50, c50 = statistics.median(migrations), statistics.median(completions)
            print(
                f"round {round_number}: migration p50 {m50 * 1e3:.2f} ms p99 "
                f"{pct(migrations, 0.99) * 1e3:.2f} ms CPU {migration_cpu * 1e3:.2f} ms "
                f"({len(migrations) / sum(migrations):.0f}/s) | completion p50 "
                f"{c50 * 1e3:.2f} ms CPU {completion_cpu * 1e3:.2f} ms | ratio wall "
                f"{m50 / c50:.2f}, CPU {migration_cpu / completion_cpu:.2f} (goal <= 3)"
            )
            results.append(
                {
                    "migration_p50_ms": m50 * 1e3,
                    "completion_p50_ms": c50 * 1e3,
                    "cpu_ratio": migration_cpu / completion_cpu,
                }
            )
    return results


def check(api: tq.WorkflowApi, migrated: list[str]) -> None:
    """Every migrated instance has its done work done and the next task waiting."""
    expected = {f"t{i}": "completed" if i < DONE else "disabled" for i in range(WIDTH + 1)}
    expected[f"t{DONE}"] = "started"
    for old_id in migrated:
        new_id = api.get_workflow_snapshot(old_id).migrated_to
        assert new_id is not None, old_id
        assert api.get_workflow_task_states(new_id) == expected, new_id


if __name__ == "__main__":
    main()
