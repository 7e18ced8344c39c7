"""Real worker processes killed with SIGKILL while they run an action: the job is recovered
by the next worker, and no scheduled mutation is lost or run twice."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasquencer.runtime.worker import WORKER_LOST
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
TASQUENCER = Path(sys.executable).with_name("tasquencer")
MODULE = "tests.runtime.crash_app"

pytestmark = pytest.mark.timeout(30)


class Workers:
    """`tasquencer worker` processes on the test's database; all killed at the end."""

    def __init__(self, url: str, logs: Path) -> None:
        self.env = {**os.environ, "CRASH_DB_URL": url}
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.started) + 1}.log").open("wb")
        process = subprocess.Popen(
            [str(TASQUENCER), "worker", "--app", f"{MODULE}:app", "--lease", "1", "--poll", "0.1"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.logs.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(5)


@pytest.fixture
def crash(database_url, tmp_path, monkeypatch) -> Iterator[tuple[Any, Workers]]:
    monkeypatch.setenv("CRASH_DB_URL", database_url)
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)  # a fresh app on this test's database
    workers = Workers(database_url, tmp_path)
    try:
        yield module, workers
    finally:
        workers.stop_all()
        module.app.close()
        sys.modules.pop(MODULE, None)


def schedule_batch(
    module: Any, first: int, count: int, *, action: Any = None, label: str = ""
) -> None:
    """`count` increments due now, with the action (if any) in the middle of them."""
    app = module.app

    @app.mutation(name=f"crash.test.schedule.{first}")
    def scheduling(ctx):
        keys = [f"k{i}" for i in range(first, first + count)]
        half = len(keys) // 2
        for key in keys[:half]:
            ctx.scheduler.run_after(0, module.increment, key=key)
        if action is not None:
            ctx.scheduler.run_after(0, action, label=label)
        for key in keys[half:]:
            ctx.scheduler.run_after(0, module.increment, key=key)

    app.run_mutation(scheduling)


def jobs(module: Any, function: str) -> list[Any]:
    return module.app.list_jobs(function=function, limit=10_000)


def the_job(module: Any, function: str) -> Any:
    (job,) = jobs(module, function)
    return job


def events(module: Any) -> list[tuple[str, int, int]]:
    return module.app.run_query(module.events)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(5) == -signal.SIGKILL


def stop(process: subprocess.Popen[bytes], workers: Workers) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0, workers.output()


def assert_every_increment_ran_exactly_once(module: Any, count: int) -> None:
    increments = jobs(module, "crash.increment")
    assert len(increments) == count
    # attempts counts claims: a killed worker may have held a few increments it never ran
    assert {j.state for j in increments} == {"success"}
    assert all(j.attempts >= 1 for j in increments)
    runs = Counter(
        j.args["key"] for j in jobs(module, "crash.marker") if j.args["key"].startswith("k")
    )
    assert runs == Counter({f"k{i}": 1 for i in range(count)})
    assert module.app.list_jobs(state="in_progress") == []
    # the same count through the domain table the mutation writes with ctx.db
    counters = module.app.run_query(module.counters)
    domain = {k: v for k, v in counters.items() if k.startswith("k")}
    assert domain == {f"k{i}": 1 for i in range(count)}, (
        "the increments' jobs succeeded and their marker jobs exist, but the rows they wrote "
        "with ctx.db are not all there"
    )


def test_a_killed_worker_s_action_fails_as_worker_lost_and_no_mutation_is_lost(crash):
    module, workers = crash
    schedule_batch(module, 0, 20, action=module.hang, label="hang")
    first = workers.start()
    wait_until(lambda: ("hang", 1) in [e[:2] for e in events(module)], 15, "the action to start")
    assert the_job(module, "crash.hang").state == "in_progress"
    kill(first)

    schedule_batch(module, 20, 10)  # scheduled while no worker runs
    second = workers.start()
    wait_until(
        lambda: the_job(module, "crash.hang").state != "in_progress",
        10,
        "the lost action to be recovered",
    )
    wait_until(
        lambda: not module.app.list_jobs(state="pending", function="crash.increment"),
        10,
        "the increments to run",
    )
    stop(second, workers)

    job = the_job(module, "crash.hang")
    assert (job.state, job.attempts, job.error) == ("failed", 1, WORKER_LOST), workers.output()
    assert [e[:2] for e in events(module)] == [("hang", 1)]  # at most once: not run again
    assert [e[2] for e in events(module)] == [first.pid]
    assert "finished:hang" not in module.app.run_query(module.counters)

    listed = subprocess.run(
        [str(TASQUENCER), "jobs", "--app", f"{MODULE}:app", "--state", "failed"],
        cwd=ROOT,
        env={**workers.env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert listed.returncode == 0, listed.stderr
    assert job.id in listed.stdout and "worker lost" in listed.stdout, listed.stdout
    assert_every_increment_ran_exactly_once(module, 30)


def test_a_killed_worker_s_retrying_action_is_retried_and_succeeds(crash):
    module, workers = crash
    schedule_batch(module, 0, 20, action=module.hang_then_succeed, label="retry")
    first = workers.start()
    wait_until(lambda: ("retry", 1) in [e[:2] for e in events(module)], 15, "the action to start")
    kill(first)

    second = workers.start()
    wait_until(
        lambda: the_job(module, "crash.hang_then_succeed").state == "success",
        10,
        "the retry to succeed",
    )
    wait_until(
        lambda: not module.app.list_jobs(state="pending", function="crash.increment"),
        10,
        "the increments to run",
    )
    stop(second, workers)

    job = the_job(module, "crash.hang_then_succeed")
    assert (job.state, job.attempts, job.error) == ("success", 2, None), workers.output()
    assert events(module) == [("retry", 1, first.pid), ("retry", 2, second.pid)]
    assert module.app.run_query(module.counters)["finished:retry"] == 1
    assert_every_increment_ran_exactly_once(module, 20)
