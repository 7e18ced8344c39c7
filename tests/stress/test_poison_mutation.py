"""A scheduled mutation that takes its worker down every time it runs (it exhausts memory,
say) is given up after `MUTATION_ATTEMPTS` claims, as "worker lost". The mutations that were
due with it must not share its fate: each still runs, exactly once.

Real `tasquencer worker` processes on PostgreSQL, restarted as they die: the poison job and
seven ordinary ones are scheduled in one transaction (same `run_at`, the poison first), so a
worker that claims several due mutations at once holds them all when it dies.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tasquencer.runtime.registry import MUTATION_ATTEMPTS
from tasquencer.runtime.worker import WORKER_LOST
from tests.stress.support import TASQUENCER, URL_ENV, WORKER_READY, Processes, terminate

MODULE = "tests.stress.jobs_app"
INNOCENT = 7


@pytest.mark.timeout(120)
def test_a_mutation_that_kills_its_worker_does_not_take_its_neighbours_down(jobs_app, tmp_path):
    app = jobs_app.app
    processes = Processes(tmp_path, {URL_ENV: app.url})

    @app.mutation(name="stress.test.plan")
    def plan(ctx: Any) -> list[str]:
        ids = [ctx.scheduler.run_after(0, jobs_app.poison)]
        return ids + [
            ctx.scheduler.run_after(0, jobs_app.apply, key=f"k{i}") for i in range(INNOCENT)
        ]

    poison, *innocent = app.run_mutation(plan)
    command = [str(TASQUENCER), "worker", "--app", f"{MODULE}:app", "--lease", "1"]
    command += ["--poll", "0.1", "--concurrency", "1"]
    deadline = time.monotonic() + 90
    try:
        current = processes.start("worker-1", command)
        while app.get_job(poison).state in ("pending", "in_progress") or any(
            app.get_job(j).state in ("pending", "in_progress") for j in innocent
        ):
            assert time.monotonic() < deadline, processes.output()
            if current.poll() is not None:  # it died: another one takes over
                current = processes.start(f"worker-{len(processes.started) + 1}", command)
            time.sleep(0.1)
        processes.wait_for_output(current, WORKER_READY)
        assert terminate(current) == 0, processes.output()
    finally:
        processes.kill_all()
    died = len(processes.started) - 1
    job = app.get_job(poison)
    assert (job.state, job.error, job.attempts) == ("failed", WORKER_LOST, MUTATION_ATTEMPTS)
    assert died == MUTATION_ATTEMPTS
    outcomes = [(app.get_job(j).state, app.get_job(j).error) for j in innocent]
    assert outcomes == [("success", None)] * INNOCENT
    with app.engine.connect() as connection:
        applied = dict(
            list(
                connection.exec_driver_sql("SELECT key, count(*) FROM stress_applied GROUP BY key")
            )
        )
    assert applied == {f"k{i}": 1 for i in range(INNOCENT)}
