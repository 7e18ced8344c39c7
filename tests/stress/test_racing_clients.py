"""Eight client processes race on PostgreSQL to start and complete the same work items of
many workflows with parallel branches, XOR and OR splits, an OR-join and a loop.

Each client loops over every open work item of every workflow and tries
`api.internal_start_work_item` / `api.internal_complete_work_item`; losing a race must surface
as `tq.WorkItemInvalidStateError` and nothing else. Afterwards: every workflow completed; every
work item transition was applied exactly once (one `race_transitions` row per work item and
transition, and each client's successful calls match its rows); the task log, task states and
generations, markings and work items of each workflow are sound, and equal to what a replay of
its recorded transitions, in commit order, gives on a fresh SQLite database.

Quick by default (20 workflows); `--run-slow` adds the full run (200 workflows).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import testing
from tests.stress.race_app import TASKS, Race, loops
from tests.stress.support import URL_ENV, Processes, fresh_schema

CLIENTS = 8


def run_race(postgres_url: str, tmp_path: Path, workflows: int, seconds: float) -> None:
    with fresh_schema(postgres_url) as url:
        app = tq.App(url)
        try:
            race = Race(app)
            race.create_tables()
            processes = Processes(tmp_path, {URL_ENV: url})
            began = time.monotonic()
            try:
                clients = [
                    processes.start(
                        f"client-{i}",
                        [sys.executable, "-m", "tests.stress.race_app"],
                        RACE_CLIENT=f"c{i}",
                        RACE_INDEX=str(i),
                        RACE_CLIENTS=str(CLIENTS),
                        RACE_WORKFLOWS=str(workflows),
                        RACE_SECONDS=str(seconds),
                        RACE_RESULT=str(tmp_path / f"client-{i}.json"),
                    )
                    for i in range(CLIENTS)
                ]
                codes = [c.wait(seconds + 60) for c in clients]
            finally:
                processes.kill_all()
            elapsed = time.monotonic() - began
            results = [
                json.loads((tmp_path / f"client-{i}.json").read_text()) for i in range(CLIENTS)
            ]
            report(results, workflows, elapsed)
            other = {r["client"]: (r["other"], r["samples"][:2]) for r in results if r["other"]}
            assert not other, f"losers got errors other than WorkItemInvalidStateError: {other}"
            assert codes == [0] * CLIENTS, processes.output()
            check(race, results, workflows)
        finally:
            app.close()


def report(results: list[dict[str, Any]], workflows: int, elapsed: float) -> None:
    wins = sum((Counter(r["wins"]) for r in results), Counter())
    losses = sum((Counter(r["losses"]) for r in results), Counter())
    runs = sum((Counter(r["activity_runs"]) for r in results), Counter())
    print(
        f"{workflows} workflows, {CLIENTS} clients, {elapsed:.1f}s: wins {dict(wins)}, "
        f"losses (WorkItemInvalidStateError) {dict(losses)}, activity runs {dict(runs)} "
        f"(runs beyond wins were rolled back and retried), rounds "
        f"{[r['rounds'] for r in results]}"
    )


def check(race: Race, results: list[dict[str, Any]], workflows: int) -> None:
    app, api = race.app, race.api
    with app.engine.connect() as connection:
        seeds = dict(list(connection.exec_driver_sql("SELECT workflow_id, seed FROM race_seeds")))
        transitions = list(
            connection.exec_driver_sql(
                "SELECT id, work_item_id, workflow_id, task_name, generation, transition, client"
                " FROM race_transitions ORDER BY id"
            )
        )
        log_rows = list(
            connection.exec_driver_sql(
                "SELECT workflow_id, task_name, generation, state FROM tasquencer_task_log"
            )
        )
    listed = api.list_workflows()
    assert len(listed) == workflows and sorted(seeds.values()) == list(range(workflows))
    assert {w.id for w in listed} == set(seeds)
    assert [w.state for w in listed] == ["completed"] * workflows

    # each work item transition applied exactly once, and by the client whose call won
    per_transition = Counter((t.work_item_id, t.transition) for t in transitions)
    twice = {k: n for k, n in per_transition.items() if n > 1}
    assert not twice, f"transitions applied more than once: {twice}"
    by_client = Counter((t.client, t.transition) for t in transitions)
    for result in results:
        for operation, count in result["wins"].items():
            assert by_client[(result["client"], operation)] == count, (result["client"], operation)
    assert sum(by_client.values()) == sum(sum(r["wins"].values()) for r in results)

    logs: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for wf, task, generation, state in log_rows:
        logs[wf].add((task, generation, state))
    recorded: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for t in transitions:
        recorded[t.workflow_id].append((t.task_name, t.generation, t.transition))

    replayed = Replay()
    try:
        for workflow_id, seed in sorted(seeds.items(), key=lambda kv: kv[1]):
            snapshot = api.get_workflow_snapshot(workflow_id)
            items = api.list_work_items(workflow_id)
            check_sound(workflow_id, seed, snapshot, items, logs[workflow_id], per_transition)
            expected = replayed.run(seed, recorded[workflow_id])
            assert state_of(snapshot, items, logs[workflow_id]) == expected, (
                f"workflow {workflow_id} (seed {seed}) differs from the replay of its "
                f"transitions {recorded[workflow_id]}"
            )
    finally:
        replayed.close()


def check_sound(
    workflow_id: str,
    seed: int,
    snapshot: Any,
    items: list[Any],
    log: set[tuple[str, int, str]],
    per_transition: Counter[tuple[str, str]],
) -> None:
    where = f"workflow {workflow_id} (seed {seed})"
    assert snapshot.state == "completed", where
    for name, task in snapshot.tasks.items():
        assert task.state not in ("enabled", "started"), (where, name, task)
        enabled = sorted(g for t, g, s in log if t == name and s == "enabled")
        completed = sorted(g for t, g, s in log if t == name and s == "completed")
        assert enabled == list(range(1, task.generation + 1)), (where, name, enabled, task)
        assert completed == enabled, (where, name, "every enabled generation completes once")
    assert snapshot.tasks["a"].generation == snapshot.tasks["j"].generation == 1 + loops(seed)
    marked = {name: m for name, m in snapshot.conditions.items() if m}
    assert marked == {"end": 1}, (where, marked)
    # one work item per enabled task generation, completed, each transition recorded once
    by_generation = Counter((item.task_name, item.generation) for item in items)
    enabled_generations = {(t, g) for t, g, s in log if s == "enabled"}
    assert set(by_generation) == enabled_generations, where
    assert set(by_generation.values()) == {1}, (where, by_generation)
    for item in items:
        assert item.state == "completed", (where, item)
        assert per_transition[(item.id, "start")] == per_transition[(item.id, "complete")] == 1


def state_of(snapshot: Any, items: list[Any], log: set[tuple[str, int, str]]) -> dict[str, Any]:
    """What a workflow's state comes to, without its ids."""
    return {
        "state": snapshot.state,
        "tasks": {name: (t.state, t.generation) for name, t in snapshot.tasks.items()},
        "conditions": dict(snapshot.conditions),
        "work_items": sorted((i.task_name, i.generation, i.state) for i in items),
        "log": sorted(log),
    }


class Replay:
    """The same workflow on a fresh SQLite database, driven by one caller in a given order."""

    def __init__(self) -> None:
        self.app = testing.create_app()
        self.race = Race(self.app)
        self.race.create_tables()

    def run(self, seed: int, transitions: list[tuple[str, int, str]]) -> dict[str, Any]:
        api = self.race.api
        workflow_id = self.app.run_mutation(self.race.create_workflow, seed=seed)
        for task, generation, transition in transitions:
            (item,) = [
                i
                for i in api.list_work_items(workflow_id, task_name=task)
                if i.generation == generation
            ]
            if transition == "start":
                api.internal_start_work_item(item.id)
            else:
                api.internal_complete_work_item(item.id)
        with self.app.transaction(read_only=True) as tx:
            log = {
                (t, g, s)
                for t, g, s in tx.connection.exec_driver_sql(
                    "SELECT task_name, generation, state FROM tasquencer_task_log"
                    " WHERE workflow_id = ?",
                    (workflow_id,),
                )
            }
        snapshot = api.get_workflow_snapshot(workflow_id)
        assert set(snapshot.tasks) == set(TASKS)
        return state_of(snapshot, api.list_work_items(workflow_id), log)

    def close(self) -> None:
        self.app.close()


@pytest.mark.timeout(180)
def test_clients_racing_on_the_same_work_items_quick(postgres_url, tmp_path):
    run_race(postgres_url, tmp_path, workflows=20, seconds=90)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_clients_racing_on_the_same_work_items_full(postgres_url, tmp_path):
    run_race(postgres_url, tmp_path, workflows=200, seconds=1500)
