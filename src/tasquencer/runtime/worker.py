"""Workers: run due jobs in `run_at` order.

A worker claims the earliest due jobs (a few at a time) in a short transaction that marks them
`in_progress` under a lease — on PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers claim side by
side — renews its leases while it works, and settles each job afterwards.

A scheduled mutation runs exactly once: its own transaction records the run in
`tasquencer_job_runs`, whose primary key refuses a second record, so its effects commit once or
not at all. If its worker dies before committing, the lease expires and the job goes back to
`pending`; if it dies after, recovery finds the record and marks the job `success`. (The mark
itself is written with the worker's next claim, which saves a commit per job.)

A scheduled action runs outside any transaction: at most once by default (a worker lost
mid-action leaves it `failed`, "worker lost"), at least once with `retry=tq.Retry(...)` (run
again after a backoff, also when its worker was lost).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasquencer import arguments
from tasquencer.errors import FunctionNotRegisteredError, TransactionAbortedError
from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.failures import is_conflict, is_disconnect
from tasquencer.runtime.functions import MutationCtx
from tasquencer.runtime.registry import (
    MAX_DELAY,
    MAX_RETRY_ATTEMPTS,
    MUTATION_ATTEMPTS,
    FunctionDef,
    Retry,
)
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.wakeup import Wakeup
from tasquencer.store import jobs as st
from tasquencer.store.sql import Dialect

log = logging.getLogger("tasquencer.worker")
_SETTLE_ATTEMPTS = 5  # outside serve(): then the caller hears of the failure
_SETTLE_MAX_DELAY = 5.0

WORKER_LOST = "worker lost: the lease of the worker running this job expired"


class AlreadyAppliedError(Exception):
    """The mutation of this job was already committed (by a worker that lost its lease)."""


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: str
    function: str
    kind: str
    args: dict[str, Any]
    attempt: int


class Worker:
    """Runs due jobs of one app, one at a time. Start several for more concurrency."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        worker_id: str | None = None,
        poll_interval: float = 1.0,
        lease_seconds: float = 30.0,
        recovery_interval: float | None = None,
        batch: int = 8,
    ) -> None:
        arguments.number(poll_interval, "poll_interval", minimum=0.001, maximum=3600)
        arguments.number(lease_seconds, "lease_seconds", minimum=0.01, maximum=MAX_DELAY)
        arguments.integer(batch, "batch", minimum=1, maximum=1000)
        self.runtime = runtime
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease_seconds)
        self.recovery_interval = recovery_interval or lease_seconds / 2
        self.batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: deque[ClaimedJob] = deque()
        self._applied: list[str] = []  # mutation jobs committed, to be marked success
        # Jobs this worker has claimed and not yet given up: the only leases it renews, so a
        # job it lost track of (a claim whose commit reply never came) expires and is recovered.
        self._leased: set[str] = set()
        self._leased_lock = threading.Lock()
        self._stopping: threading.Event | None = None  # set by serve()

    # --- one step at a time ----------------------------------------------------------------

    def run_next(self) -> bool:
        """Run the earliest due job, or run of mutation jobs, claiming when none is held;
        returns whether anything ran."""
        if not self._held:
            self._claim()
        if not self._held:
            return False
        if self._held[0].kind == "mutation":
            jobs = list(self._held)
            self._held.clear()
            self._run_mutations(jobs)
        else:
            self._run_action(self._held.popleft())
        return True

    def flush(self) -> None:
        """Mark the committed mutation jobs `success` and give back claimed jobs not run."""
        if not self._applied and not self._held:
            return
        with self.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
            marked = self._mark_applied(tx)
            tx.db.run_many(
                st.UNCLAIM_JOB, ({"id": job.id, "owner": self.worker_id} for job in self._held)
            )
        self._marked(marked)
        self._forget(job.id for job in self._held)
        self._held.clear()

    def recover_expired(self) -> int:
        """Put back or fail the jobs whose worker lost its lease; returns how many."""
        with self.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
            now = tx.now()
            d = tx.db.dialect
            rows = tx.db.all(st.SELECT_EXPIRED_LEASES, {"now": d.time_in(now)})
            for job_id, function, kind, attempts, max_attempts, applied in rows:
                try:
                    params = self._recovery(function, kind, attempts, max_attempts, applied, now, d)
                except Exception as error:  # one job's problem must not stop the others'
                    log.exception("job %s (%s): cannot be put back; failing it", job_id, function)
                    params = _final_params("failed", f"{WORKER_LOST}; {_describe(error)}", now, d)
                tx.db.run(st.RECOVER_JOB, {"id": job_id, **params})
                log.warning("job %s (%s): %s", job_id, function, WORKER_LOST)
        return len(rows)

    def _recovery(
        self,
        function: str,
        kind: str,
        attempts: int,
        max_attempts: int,
        applied: bool,
        now: datetime,
        d: Dialect,
    ) -> dict[str, Any]:
        """How a job whose worker was lost is settled: success, again later, or failed."""
        retry = _RUN_AGAIN if kind == "mutation" else self._retry_of(function)
        if applied:  # its worker committed the mutation, then died before the mark
            return _final_params("success", None, now, d)
        if retry is not None and attempts < max_attempts:
            return _retry_params(retry, attempts, now, WORKER_LOST, d)
        return _final_params("failed", WORKER_LOST, now, d)

    def next_due_in(self) -> float | None:
        """Seconds until the earliest pending job is due (0 if overdue), None if none pend."""
        with self.runtime.transaction(read_only=True) as tx:
            (value,) = tx.db.one(st.NEXT_RUN_AT, {}) or (None,)
            run_at = tx.db.dialect.time_out(value)
            if run_at is None:
                return None
            return max(0.0, (run_at - tx.now()).total_seconds())

    # --- serving ---------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Run jobs until `stop` is set; wait for the next due job (or a wake-up) when idle."""
        self._stopping = stop
        wake = Wakeup(self.runtime.core)
        last_recovery = 0.0
        clock = time.monotonic
        renewer = threading.Thread(target=self._renew_leases, args=(stop,), daemon=True)
        renewer.start()
        try:
            while not stop.is_set():
                try:
                    if clock() - last_recovery >= self.recovery_interval:
                        self.recover_expired()
                        last_recovery = clock()
                    if self.run_next():
                        continue
                    due_in = self.next_due_in()
                except Exception as error:
                    if is_disconnect(error):
                        log.warning("worker %s: database unreachable: %s", self.worker_id, error)
                    else:
                        log.exception("worker %s: error while looking for jobs", self.worker_id)
                    due_in = self.poll_interval
                timeout = self.poll_interval if due_in is None else min(due_in, self.poll_interval)
                if timeout > 0:
                    wake.wait(timeout)
        finally:
            stop.set()
            renewer.join()
            wake.close()
            self.flush()
            self.close()

    def close(self) -> None:
        """Release what running jobs needed (the event loop of async actions)."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # --- pieces ----------------------------------------------------------------------------

    def _claim(self) -> None:
        """Claim the earliest due jobs; when all it found were canceled, look again."""
        while self._claim_once() and not self._held:
            pass

    def _claim_once(self) -> bool:
        """One claim; returns whether it applied recorded cancellations (see tables.job_cancels)
        to due jobs instead of claiming them."""
        with self.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
            marked = self._mark_applied(tx)
            d = tx.db.dialect
            now = d.time_in(tx.now())
            due = tx.db.all(st.SELECT_DUE_JOBS, {"now": now, "limit": self.batch})
            canceled = [row[0] for row in due if row[5]]
            rows = _claimable([row for row in due if not row[5]])
            tx.db.run_many(st.CANCEL_DUE_JOB, ({"id": job_id} for job_id in canceled))
            expires = d.time_in(tx.now() + self.lease)
            tx.db.run_many(
                st.CLAIM_JOB,
                (
                    {"id": row[0], "now": now, "owner": self.worker_id, "expires": expires}
                    for row in rows
                ),
            )
        self._marked(marked)
        with self._leased_lock:
            self._leased.update(row[0] for row in rows)
        for job_id, function, kind, args, attempts, _ in rows:
            self._held.append(ClaimedJob(job_id, function, kind, d.json_out(args), attempts + 1))
        return bool(canceled)

    def _mark_applied(self, tx: Transaction) -> int:
        """Mark the committed mutation jobs `success` in `tx`; returns how many, for the caller
        to forget once `tx` has committed."""
        if not self._applied:
            return 0
        params = _final_params("success", None, tx.now(), tx.db.dialect)
        tx.db.run_many(
            st.SETTLE_JOB,
            ({"id": job_id, "owner": self.worker_id, **params} for job_id in self._applied),
        )
        return len(self._applied)

    def _marked(self, count: int) -> None:
        """The first `count` applied jobs are now committed `success`: done with them."""
        self._forget(self._applied[:count])
        del self._applied[:count]

    def _forget(self, job_ids: Iterable[str]) -> None:
        """Stop renewing the leases of jobs this worker is done with."""
        with self._leased_lock:
            self._leased.difference_update(job_ids)

    def _run_mutations(self, jobs: list[ClaimedJob]) -> None:
        """Run held mutation jobs in one transaction, each in a savepoint of its own.

        One commit for the run: a job that raises is rolled back to its savepoint and recorded
        `failed` in the same transaction; a conflict retries the whole run.
        """
        runnable: list[tuple[ClaimedJob, FunctionDef]] = []
        for job in jobs:
            try:
                runnable.append((job, self._definition(job.function, "mutation")))
            except (FunctionNotRegisteredError, TypeError) as error:
                self._settle(job, None, str(error))
        if not runnable:
            return
        trees = [tree for job, d in runnable if d.trees is not None for tree in d.trees(job.args)]
        try:
            applied = self.runtime.runner.run(lambda tx: self._apply(tx, runnable), trees=trees)
        except Exception as error:  # only a conflict that outlasted the retries gets here
            log.warning("%d mutation jobs put back after conflicts: %s", len(runnable), error)
            for job, _ in runnable:
                self._settle(job, _CONFLICT_RETRY, _describe(error))
            return
        self._applied.extend(applied)
        done = set(applied)  # the others failed (settled in the run) or were no longer ours
        self._forget(job.id for job, _ in runnable if job.id not in done)

    def _apply(self, tx: Transaction, runnable: list[tuple[ClaimedJob, FunctionDef]]) -> list[str]:
        """Apply each job in a savepoint; returns the ids of the jobs now applied."""
        d = tx.db.dialect
        now = tx.now()
        applied: list[str] = []
        for job, definition in runnable:
            if tx.db.one(st.SELECT_JOB_STATE, {"id": job.id}) != ("in_progress", self.worker_id):
                continue  # canceled while held, or recovered by another worker
            savepoint = tx.connection.begin_nested()
            inner = tx.nested()
            try:
                record = {"id": job.id, "owner": self.worker_id, "now": d.time_in(now)}
                if not inner.db.run(st.RECORD_JOB_RUN, record):
                    raise AlreadyAppliedError(job.id)
                definition.fn(MutationCtx(inner), **job.args)
                if not savepoint.is_active:
                    raise TransactionAbortedError()
                inner.flush()
            except AlreadyAppliedError:
                savepoint.rollback()
                log.warning(
                    "job %s (%s) was already applied by a worker that lost it", job.id, job.function
                )
                applied.append(job.id)  # its effects are committed: mark it success
                continue
            except Exception as error:
                if is_conflict(error) or is_disconnect(error):
                    raise
                if savepoint.is_active:
                    savepoint.rollback()
                log.warning("job %s (%s) failed: %s", job.id, job.function, error)
                params = _final_params("failed", _describe(error), now, d)
                tx.db.run(st.SETTLE_JOB, {"id": job.id, "owner": self.worker_id, **params})
                continue
            finally:
                inner.close()
            savepoint.commit()
            tx.absorb(inner)
            applied.append(job.id)
        return applied

    def _run_action(self, job: ClaimedJob) -> None:
        runtime = self.runtime
        try:
            definition = self._definition(job.function, "action")
        except (FunctionNotRegisteredError, TypeError) as error:
            self._settle(job, None, str(error))
            return
        try:
            attempts = definition.retry.attempts if definition.retry else 1
            if definition.is_async:
                ctx = AsyncActionCtx(runtime, job.id, job.attempt, attempts)
                self._event_loop().run_until_complete(definition.fn(ctx, **job.args))
            else:
                definition.fn(ActionCtx(runtime, job.id, job.attempt, attempts), **job.args)
        except Exception as error:
            log.warning(
                "job %s (%s) attempt %d failed: %s", job.id, job.function, job.attempt, error
            )
            self._settle(job, definition.retry, _describe(error))
            return
        self._settle(job, None, None)

    def _settle(self, job: ClaimedJob, retry: Retry | None, error: str | None) -> None:
        """Record a job's outcome. The database may be briefly unreachable (a restart): keep
        trying while serving (a few times otherwise); a worker that gives up stops renewing the
        job's lease, so it is recovered as if this worker had died."""
        for attempt in itertools.count(1):
            try:
                self._settle_once(job, retry, error)
                break
            except Exception as failure:
                transient = is_disconnect(failure) or is_conflict(failure)
                serving = self._stopping is not None and not self._stopping.is_set()
                if not transient or (not serving and attempt >= _SETTLE_ATTEMPTS):
                    self._forget([job.id])
                    raise
                log.warning(
                    "job %s (%s): cannot record its outcome yet: %s", job.id, job.function, failure
                )
                time.sleep(min(_SETTLE_MAX_DELAY, 0.05 * 2 ** min(attempt, 10)))
        self._forget([job.id])

    def _settle_once(self, job: ClaimedJob, retry: Retry | None, error: str | None) -> None:
        with self.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
            d = tx.db.dialect
            now = tx.now()
            if error is None:
                params = _final_params("success", None, now, d)
            elif retry is not None and job.attempt < retry.attempts:
                params = _retry_params(retry, job.attempt, now, error, d)
            else:
                params = _final_params("failed", error, now, d)
            settled = tx.db.run(st.SETTLE_JOB, {"id": job.id, "owner": self.worker_id, **params})
            if not settled:  # canceled while it ran: keep the job canceled, drop our lease
                tx.db.run(st.RELEASE_LEASE, {"id": job.id, "owner": self.worker_id})

    def renew_leases(self) -> int:
        """Extend the leases of the jobs this worker holds; returns how many were extended."""
        with self._leased_lock:
            job_ids = sorted(self._leased)
        if not job_ids:
            return 0
        with self.runtime.runner.transaction(isolation="READ COMMITTED") as tx:
            expires = tx.db.dialect.time_in(tx.now() + self.lease)
            return sum(
                tx.db.run(
                    st.RENEW_LEASE, {"id": job_id, "owner": self.worker_id, "expires": expires}
                )
                for job_id in job_ids
            )

    def _renew_leases(self, stop: threading.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not stop.wait(interval):
            try:
                self.renew_leases()
            except Exception as error:
                if is_conflict(error):
                    log.warning("worker %s: lease renewal lost a race: %s", self.worker_id, error)
                else:
                    log.exception("worker %s: could not renew its leases", self.worker_id)

    def _definition(self, function: str, kind: str) -> FunctionDef:
        definition = self.runtime.core.registry.resolve(function)
        if definition.kind != kind:
            raise TypeError(f"job function {function} is a {definition.kind}, not a {kind}")
        return definition

    def _retry_of(self, function: str) -> Retry | None:
        try:
            return self.runtime.core.registry.resolve(function).retry
        except FunctionNotRegisteredError:
            return None

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop


class WorkerThread:
    """In-process workers, each on a background thread of its own; use as a context manager
    or call stop()."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        if not workers:
            raise ValueError("WorkerThread needs at least one worker")
        self.workers = tuple(workers)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=worker.serve,
                args=(self._stop,),
                name=f"tasquencer-{worker.worker_id}",
                daemon=True,
            )
            for worker in self.workers
        ]
        for thread in self._threads:
            thread.start()

    @property
    def worker(self) -> Worker:
        """The first (with `concurrency=1`, the only) worker."""
        return self.workers[0]

    def request_stop(self) -> None:
        """Ask every worker to stop once the job in hand is done; returns at once."""
        self._stop.set()
        self.worker.runtime.core.wake_workers()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers to stop, `timeout` seconds at most (each)."""
        for thread in self._threads:
            thread.join(timeout)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish the jobs in hand, then stop."""
        self.request_stop()
        self.join(timeout)

    def is_alive(self) -> bool:
        """Whether any worker is still serving (for health checks)."""
        return any(thread.is_alive() for thread in self._threads)

    def __enter__(self) -> WorkerThread:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _claimable(due: list[Any]) -> list[Any]:
    """The due jobs to hold at once: a run of mutations, or one job on its own.

    Held jobs of a worker that dies are recovered as if they had started. A held mutation that
    never ran then simply runs later, but an action would count as lost, and a job that was
    claimed before may be the one that kills its worker (it must not take others down with it
    again and again), so such jobs are held alone.
    """

    def alone(row: Any) -> bool:
        return bool(row[2] == "action" or row[4] > 0)

    if due and alone(due[0]):
        return due[:1]
    for index, row in enumerate(due):
        if alone(row):
            return due[:index]
    return due


# A mutation that kept losing conflicts is put back, to run again a moment later.
_CONFLICT_RETRY = Retry(attempts=MAX_RETRY_ATTEMPTS, initial_delay=1.0, max_delay=30.0)
# A mutation whose worker was lost never committed: it is put back at once (up to its limit).
_RUN_AGAIN = Retry(attempts=MUTATION_ATTEMPTS, initial_delay=0.0, max_delay=0.0)


def backoff_delay(retry: Retry, attempt: int) -> float:
    """Exponential backoff with jitter: half the capped delay, plus up to half again at random."""
    doublings = min(attempt - 1, 64)  # beyond that the cap holds anyway; 2.0**1100 overflows
    delay: float = min(retry.max_delay, retry.initial_delay * 2.0**doublings)
    return delay / 2 + random.uniform(0, delay / 2)


def _retry_params(
    retry: Retry, attempt: int, now: datetime, error: str, d: Dialect
) -> dict[str, Any]:
    run_at = now + timedelta(seconds=backoff_delay(retry, attempt))
    return {"state": "pending", "error": error, "run_at": d.time_in(run_at), "finished_at": None}


def _final_params(state: str, error: str | None, now: datetime, d: Dialect) -> dict[str, Any]:
    return {"state": state, "error": error, "run_at": None, "finished_at": d.time_in(now)}


def _describe(error: BaseException) -> str:
    summary = "".join(traceback.format_exception_only(type(error), error)).strip()
    return summary[:4000]
