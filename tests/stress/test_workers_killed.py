"""Four real `tasquencer worker` processes on PostgreSQL, SIGKILLed at random moments and
restarted, while they run thousands of scheduled mutations and actions.

Afterwards every scheduled job is accounted for and nothing is left pending or in progress;
every mutation was applied exactly once (a row per application, counted per job); every action
without a retry policy got going at most once and ended `success` or `failed` as "worker lost";
every action with `retry=tq.Retry(...)` succeeded at least once.

Quick by default (1,000 jobs); `--run-slow` adds the full run (10,000 jobs).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tasquencer.runtime.worker import WORKER_LOST
from tests.stress.support import (
    TASQUENCER,
    URL_ENV,
    WORKER_READY,
    Processes,
    sigkill,
    terminate,
)

MODULE = "tests.stress.jobs_app"
WORKERS = 4
BATCH = 250  # jobs scheduled per transaction


@dataclass(frozen=True)
class Size:
    jobs: int
    fault_every: tuple[float, float]  # seconds between faults, uniformly drawn
    settle_timeout: float  # seconds for every job to end once all are scheduled


QUICK = Size(jobs=1_000, fault_every=(0.3, 1.0), settle_timeout=120)
FULL = Size(jobs=10_000, fault_every=(0.5, 2.0), settle_timeout=900)
LEASE = 2.0
# A paused worker (SIGSTOP: a long GC pause, a frozen VM) stays stopped past its lease and the
# recovery that follows, then carries on (SIGCONT) with the jobs it still believes it holds.
PAUSE_FOR = (3.0, 5.0)
STALL = 30.0  # seconds without progress after which the test gives up and says why


def make_plan(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """60% mutations, 25% at-most-once actions, 15% retrying actions (a third of which fail
    their first attempt on purpose); a fifth of all due up to 3 s later, the rest now. Actions
    take up to 50 ms, one in fifty up to 1.5 s; one at-most-once action in two hundred takes
    3 s (longer than the lease, which must be renewed). Retrying actions stay short enough for
    their retry budget to outlast the killer: at a kill every 0.65 s among four workers, a 3 s
    attempt survives only one time in three."""
    plan = []
    for i in range(count):
        roll = rng.random()
        delay = 0.0 if rng.random() < 0.8 else round(rng.uniform(0, 3), 3)
        if roll < 0.6:
            plan.append({"kind": "apply", "key": f"m{i}", "delay": delay})
            continue
        work = rng.uniform(0, 0.05)
        extra = rng.random()
        if extra < 0.005 and roll < 0.85:
            work = 3.0
        elif extra < 0.025:
            work = rng.uniform(0.2, 1.5)
        if roll < 0.85:
            plan.append({"kind": "once", "key": f"o{i}", "delay": delay, "work": round(work, 3)})
        else:
            plan.append(
                {
                    "kind": "retrying",
                    "key": f"r{i}",
                    "delay": delay,
                    "work": round(work, 3),
                    "fail_first": rng.random() < 1 / 3,
                }
            )
    return plan


@dataclass
class Killer:
    """At random moments, SIGKILLs a random worker and starts a new one in its place or, for a
    share `pause` of the faults, pauses one (SIGSTOP) past its lease, then lets it go on."""

    processes: Processes
    rng: random.Random
    every: tuple[float, float]
    pause: float = 0.0
    workers: list[Any] = field(default_factory=list)
    kills: int = 0
    pauses: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    started: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def start_worker(self) -> None:
        self.started += 1
        command = [
            str(TASQUENCER),
            "worker",
            "--app",
            f"{MODULE}:app",
            "--lease",
            str(LEASE),
            "--poll",
            "0.2",
            "--concurrency",
            "1",
        ]
        self.workers.append(self.processes.start(f"worker-{self.started}", command))

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(*self.every)):
                victim = self.rng.randrange(len(self.workers))
                if self.rng.random() < self.pause:
                    self.pauses += 1
                    pause(self.workers[victim], self.rng.uniform(*PAUSE_FOR), self.stop)
                    continue
                sigkill(self.workers[victim])
                self.kills += 1
                self.stop.wait(self.rng.uniform(0, 0.3))
                self.workers.pop(victim)
                self.start_worker()
        except BaseException as error:  # reported by the test
            self.errors.append(error)


def pause(process: Any, seconds: float, stop: threading.Event) -> None:
    os.kill(process.pid, signal.SIGSTOP)
    try:
        stop.wait(seconds)
    finally:
        os.kill(process.pid, signal.SIGCONT)


def rows(app: Any, query: str) -> list[Any]:
    with app.engine.connect() as connection:
        return list(connection.exec_driver_sql(query))


def unfinished(app: Any) -> int:
    (count,) = rows(
        app, "SELECT count(*) FROM tasquencer_jobs WHERE state IN ('pending', 'in_progress')"
    )[0]
    return int(count)


def run_stress(module: Any, tmp_path: Path, size: Size, pause: float = 0.0) -> None:
    seed = int(os.environ.get("STRESS_SEED", random.randrange(1 << 30)))
    print(f"STRESS_SEED={seed}")
    rng = random.Random(seed)
    plan = make_plan(rng, size.jobs)
    app = module.app
    processes = Processes(tmp_path, {URL_ENV: app.url})
    killer = Killer(processes, random.Random(seed + 1), size.fault_every, pause)
    thread = threading.Thread(target=killer.run, daemon=True)
    began = time.monotonic()
    try:
        for _ in range(WORKERS):
            killer.start_worker()
        thread.start()
        job_ids: list[str] = []
        for first in range(0, len(plan), BATCH):  # scheduled while the workers run and die
            job_ids += app.run_mutation(module.schedule, plan=plan[first : first + BATCH])
            time.sleep(0.05)
        scheduled = time.monotonic()
        wait_until_all_ended(app, size.settle_timeout, processes)
        killer.stop.set()
        thread.join(30)
        assert not killer.errors, killer.errors
        # a worker killed or paused at the very end may have held a job: wait for it too
        wait_until_all_ended(app, 30, processes)
        settled = time.monotonic()
        for worker in killer.workers:  # one started at the very end may still be loading
            processes.wait_for_output(worker, WORKER_READY)
        exits = [terminate(w) for w in killer.workers]
        assert exits == [0] * WORKERS, processes.output()
    finally:
        killer.stop.set()
        thread.join(30)
        processes.kill_all()
    print(
        f"{size.jobs} jobs, {killer.kills} kills, {killer.pauses} pauses, {killer.started} "
        f"worker processes: scheduled in {scheduled - began:.1f}s, all ended after "
        f"{settled - began:.1f}s"
    )
    check(module, plan, job_ids, killer, processes)


def wait_until_all_ended(app: Any, timeout: float, processes: Processes) -> None:
    """Until no job is pending or in progress; fails early, saying which, on a stall."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while (count := unfinished(app)) > 0:
        now = time.monotonic()
        if count != last:
            last, since = count, now
        if now - since > STALL or now > deadline:
            stuck = rows(
                app,
                "SELECT j.id, j.function, j.state, j.attempts, j.lease_owner,"
                " j.lease_expires_at, r.worker AS applied_by"
                " FROM tasquencer_jobs j LEFT JOIN tasquencer_job_runs r ON r.job_id = j.id"
                " WHERE j.state IN ('pending', 'in_progress') ORDER BY j.id LIMIT 20",
            )
            raise AssertionError(
                f"{count} jobs still pending or in progress, no progress for "
                f"{now - since:.0f}s: {[tuple(r) for r in stuck]}\n"
                + processes.output(processes.logs_containing("already applied"), tail=20)
            )
        time.sleep(0.25)


def check(
    module: Any, plan: list[dict[str, Any]], job_ids: list[str], killer: Killer, procs: Processes
) -> None:
    app = module.app
    by_key = {entry["key"]: entry for entry in plan}
    jobs = {
        row.id: row
        for row in rows(
            app,
            "SELECT id, function, args, state, attempts, error FROM tasquencer_jobs"
            " WHERE function <> 'stress.schedule'",
        )
    }
    # nothing lost, nothing extra: exactly the scheduled jobs, each with its own arguments
    assert sorted(jobs) == sorted(job_ids)
    keys = {job_id: jobs[job_id].args["key"] for job_id in job_ids}
    assert sorted(keys.values()) == sorted(by_key)
    states = Counter((job.function, job.state) for job in jobs.values())
    print("job outcomes:", dict(sorted(states.items())))
    assert not [j for j in jobs.values() if j.state in ("pending", "in_progress", "canceled")]

    # mutations: exactly once, seen through a row per application and a counter per key
    applied = Counter(key for (key,) in rows(app, "SELECT key FROM stress_applied"))
    counters = dict(rows(app, "SELECT key, value FROM stress_counters"))
    mutations = [j for j in jobs.values() if j.function == "stress.apply"]
    wanted = {j.args["key"]: 1 for j in mutations}
    not_success = [(j.id, j.state, j.attempts, j.error) for j in mutations if j.state != "success"]
    assert not not_success, not_success
    twice = {k: n for k, n in applied.items() if n != 1}
    assert not twice, f"mutations applied more than once: {twice}"
    assert dict(applied) == wanted, "some mutation was never applied"
    assert counters == wanted
    rerun = sum(1 for j in mutations if j.attempts > 1)

    attempts_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, event, attempt in rows(app, "SELECT key, event, attempt FROM stress_action_events"):
        attempts_of[(key, event)].append(attempt)
    # at-most-once actions: started once at most; success means it started and finished once
    lost = 0
    for job in (j for j in jobs.values() if j.function == "stress.once"):
        key = job.args["key"]
        started, finished = attempts_of[(key, "start")], attempts_of[(key, "finish")]
        assert len(started) <= 1, f"{key} ({job.id}) started {len(started)} times"
        assert job.attempts == 1, (key, job.attempts)
        if job.state == "success":
            assert (started, finished) == ([1], [1]), (key, started, finished)
        else:
            assert (job.state, job.error) == ("failed", WORKER_LOST), (key, job.state, job.error)
            lost += 1
    # retrying actions: at least once; each claim is a new attempt, started at most once
    retried = 0
    for job in (j for j in jobs.values() if j.function == "stress.retrying"):
        key = job.args["key"]
        started, finished = attempts_of[(key, "start")], attempts_of[(key, "finish")]
        assert (job.state, job.error) == ("success", None), (key, job.attempts, job.error)
        assert finished, f"{key} ({job.id}) succeeded without finishing"
        assert len(set(started)) == len(started), (key, started)
        assert set(finished) <= set(started) and max(started) <= job.attempts, (key, job.attempts)
        if by_key[key]["fail_first"]:  # its first attempt, if it got going, failed
            assert 1 not in finished, (key, started, finished)
        retried += job.attempts > 1
    print(
        f"recoveries: {rerun} mutations re-run, {lost} at-most-once actions lost with their "
        f"worker, {retried} retrying actions run more than once"
    )
    unexpected = procs.logs_containing("Traceback")
    assert not unexpected, procs.output(unexpected)
    assert killer.kills + killer.pauses >= 3, "the killer hardly ran: the test proved little"


@pytest.mark.timeout(240)
def test_workers_killed_at_random_quick(jobs_app, tmp_path):
    run_stress(jobs_app, tmp_path, QUICK)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_workers_killed_at_random_full(jobs_app, tmp_path):
    run_stress(jobs_app, tmp_path, FULL)


@pytest.mark.timeout(240)
def test_workers_killed_or_paused_past_their_lease_quick(jobs_app, tmp_path):
    run_stress(jobs_app, tmp_path, QUICK, pause=0.3)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_workers_killed_or_paused_past_their_lease_full(jobs_app, tmp_path):
    run_stress(jobs_app, tmp_path, FULL, pause=0.3)
