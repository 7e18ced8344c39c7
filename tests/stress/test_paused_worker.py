"""A worker frozen (SIGSTOP) in the middle of a scheduled mutation, past its lease: another
worker recovers the job and claims it again, then the frozen one wakes up (SIGCONT) and
commits. The mutation must still be applied exactly once, and the job must end `success`
rather than stay `in_progress` under the second worker's renewed lease.

Deterministic, with real `tasquencer worker` processes on PostgreSQL: the test waits until the
first worker's transaction is inside the mutation (`pg_sleep` in `pg_stat_activity`), freezes
it, lets its lease expire, starts a second worker and waits until that one is blocked on the
first one's uncommitted `tasquencer_job_runs` row before it lets the first one go on.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.stress.support import TASQUENCER, URL_ENV, Processes, terminate

MODULE = "tests.stress.jobs_app"
LEASE = 2.0


def activity(app: Any, condition: str) -> list[Any]:
    """Other sessions of this database matching a condition on pg_stat_activity."""
    with app.engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                "SELECT pid, state, wait_event_type, query FROM pg_stat_activity"
                f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND {condition}"
            )
        )


def worker(processes: Processes, name: str) -> Any:
    command = [str(TASQUENCER), "worker", "--app", f"{MODULE}:app", "--lease", str(LEASE)]
    return processes.start(name, [*command, "--poll", "0.2", "--concurrency", "1"])


@pytest.mark.timeout(120)
def test_a_worker_frozen_mid_mutation_past_its_lease(jobs_app, tmp_path):
    app = jobs_app.app
    processes = Processes(tmp_path, {URL_ENV: app.url})
    try:
        first = worker(processes, "worker-1")
        wait_until(lambda: activity(app, "query LIKE 'LISTEN%%'"), 30, "the first worker to listen")

        @app.mutation(name="stress.test.plan")
        def plan(ctx: Any) -> str:
            return ctx.scheduler.run_after(0, jobs_app.slow_apply, key="k", seconds=1.5)

        job_id = app.run_mutation(plan)
        wait_until(
            lambda: activity(app, "state = 'active' AND query LIKE '%%pg_sleep%%'"),
            10,
            "the first worker to be inside the mutation",
            interval=0.01,
        )
        os.kill(first.pid, signal.SIGSTOP)  # frozen with its transaction open
        try:
            time.sleep(LEASE + 0.5)  # its lease expires: nothing renews it
            second = worker(processes, "worker-2")  # recovers the job, claims it, runs it ...
            wait_until(
                lambda: activity(app, "wait_event_type = 'Lock'"),
                30,
                "the second worker to wait on the first one's uncommitted job run",
            )
        finally:
            os.kill(first.pid, signal.SIGCONT)  # ... and the first one commits
        deadline = time.monotonic() + 10
        while app.get_job(job_id).state in ("pending", "in_progress"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        job = app.get_job(job_id)
        assert job.state == "success", (
            f"10 s after the first worker committed, the job is {job}\n{processes.output()}"
        )
        with app.engine.connect() as connection:
            applied = connection.exec_driver_sql("SELECT count(*) FROM stress_applied").scalar()
        assert applied == 1
        assert [terminate(first), terminate(second)] == [0, 0], processes.output()
    finally:
        processes.kill_all()
