"""`ctx.scheduler`: jobs written in the caller's transaction, run later by a worker.

A job scheduled inside a mutation exists only if that mutation commits. Jobs registered with
`ctx.register_scheduled` are tied to an element (listed on its row) and canceled, in the same
transaction, when the element is torn down (on PostgreSQL the cancellation is recorded there
and applied right after the commit: see tables.job_cancels).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tasquencer import arguments
from tasquencer.errors import JobNotFoundError, SerializationError, describe
from tasquencer.records import JobRecord, JobState
from tasquencer.store import jobs as st
from tasquencer.store.sql import Dialect
from tasquencer.store.tables import jobs

if TYPE_CHECKING:
    from tasquencer.runtime.transaction import Transaction


_MAX_DELAY = 100 * 365 * 24 * 3600.0  # a century: beyond that, a delay is a mistake
JOB_STATES: tuple[JobState, ...] = ("pending", "in_progress", "success", "failed", "canceled")


class Scheduler:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._scheduled: set[str] = set()  # ids of the jobs this transaction scheduled

    def run_after(self, delay: float | timedelta, function: object, /, **kwargs: object) -> str:
        """Schedule `function(**kwargs)` to run `delay` seconds from now; returns the job id."""
        seconds = arguments.seconds(delay, "run_after's delay", maximum=_MAX_DELAY)
        return self._schedule(self._tx.now() + timedelta(seconds=seconds), function, kwargs)

    def run_at(self, when: datetime, function: object, /, **kwargs: object) -> str:
        """Schedule `function(**kwargs)` to run at `when` (a timezone-aware datetime)."""
        return self._schedule(arguments.moment(when, "run_at's when"), function, kwargs)

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a pending one never runs. Canceling a finished job does nothing."""
        arguments.string(job_id, "job_id")
        self._require(job_id)
        self._tx.db.run(st.CANCEL_JOB, {"id": job_id, "now": self._now()})

    def get(self, job_id: str) -> JobRecord | None:
        if not arguments.could_be_an_id(arguments.string(job_id, "job_id")):
            return None
        self._tx.uow.flush()  # the cancellations of torn-down elements' jobs
        row = self._tx.db.one(st.SELECT_JOB, {"id": job_id})
        return None if row is None else job_record(row, self._tx.db.dialect)

    def list(
        self, *, state: str | None = None, function: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        if state is not None:
            arguments.one_of(state, "state", JOB_STATES)
        arguments.optional_text(function, "function")
        arguments.integer(limit, "limit", minimum=1, maximum=100_000)
        query = sa.select(*st.JOB_COLUMNS).order_by(jobs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(st.job_state == state)
        if function is not None:
            query = query.where(jobs.c.function == function)
        self._tx.uow.flush()
        return [
            JobRecord(
                id=row.id,
                function=row.function,
                args=row.args,
                state=row.state,
                run_at=_utc(row.run_at),
                attempts=row.attempts,
                error=row.error,
                created_at=_utc(row.created_at),
                started_at=_utc(row.started_at),
                finished_at=_utc(row.finished_at),
            )
            for row in self._tx.connection.execute(query)
        ]

    def prune(self, before: datetime) -> int:
        """Delete the jobs that finished at or before `before`; returns how many."""
        params = {"before": self._tx.db.dialect.time_in(before)}
        self._tx.db.run(st.PRUNE_JOB_RUNS, params)
        self._tx.db.run(st.PRUNE_CANCELS, params)
        return self._tx.db.run(st.PRUNE_JOBS, params)

    # --- jobs tied to elements (used by the engine) ---------------------------------------

    def require(self, job_id: str) -> None:
        """Raise `JobNotFoundError` unless the job exists."""
        if job_id not in self._scheduled:  # one this call scheduled needs no lookup
            self._require(job_id)

    def cancel_pending(self, job_ids: Iterable[str]) -> None:
        """Cancel these jobs unless they have started (written with the call's rows)."""
        self._tx.uow.cancel_jobs(job_ids, self._now())

    def scheduled_ids(self) -> frozenset[str]:
        """The ids of the jobs this transaction has scheduled so far."""
        return frozenset(self._scheduled)

    def keep_scheduled(self, ids: frozenset[str]) -> None:
        """Forget the jobs scheduled since `scheduled_ids()` returned `ids`: a nested call
        that scheduled them was rolled back to its savepoint, so they do not exist."""
        self._scheduled &= ids

    # --- pieces ---------------------------------------------------------------------------

    def _schedule(self, run_at: datetime, function: object, kwargs: dict[str, object]) -> str:
        definition = self._tx.core.registry.resolve(function)
        args = encode_args(definition.name, kwargs)
        job_id = self._tx.new_id()
        dialect = self._tx.db.dialect
        self._tx.db.run(
            st.INSERT_JOB,
            {
                "id": job_id,
                "function": definition.name,
                "kind": definition.kind,
                "args": dialect.json_in(args),
                "run_at": dialect.time_in(run_at),
                "max_attempts": definition.max_attempts,
                "created_at": self._now(),
            },
        )
        if not self._tx.scheduled_jobs and dialect.name == "postgresql":
            self._tx.db.run(st.NOTIFY_WORKERS, {})
        self._tx.scheduled_jobs = True
        self._scheduled.add(job_id)
        return job_id

    def _require(self, job_id: str) -> None:
        if not arguments.could_be_an_id(job_id):
            raise JobNotFoundError(f"there is no job {describe(job_id)}")
        self._tx.uow.flush()  # the cancellations of torn-down elements' jobs
        if self._tx.db.one(st.SELECT_JOB, {"id": job_id}) is None:
            raise JobNotFoundError(f"there is no job {describe(job_id)}")

    def _now(self) -> Any:
        return self._tx.db.dialect.time_in(self._tx.now())


def encode_args(function: str, kwargs: dict[str, object]) -> dict[str, Any]:
    """The job's arguments as JSON values; dataclasses and pydantic models become objects."""
    try:
        encoded = json.dumps(kwargs, default=_to_json, allow_nan=False)
        decoded: dict[str, Any] = json.loads(encoded)
    except RecursionError:
        raise SerializationError(
            f"the arguments of {function} are nested too deeply to be stored with the job"
        ) from None
    except (TypeError, ValueError) as error:
        raise SerializationError(
            f"the arguments of {function} must be JSON-serializable to be stored with the job: "
            f"{describe(str(error))}"
        ) from None
    problem = _unstorable_text(decoded)
    if problem:
        raise SerializationError(f"the arguments of {function} cannot be stored: {problem}")
    return decoded


def _unstorable_text(value: object) -> str:
    """Why a decoded JSON value holds text the database cannot store ("" when it can)."""
    stack = [value]
    while stack:
        item = stack.pop()
        texts: list[str] = []
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        for text in texts:
            problem = arguments.text_problem(text)
            if problem:
                return f"a string {problem}: {describe(text)}"
    return ""


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _utc(value: Any) -> Any:
    """SQLite gives naive datetimes back; they are UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def job_record(row: tuple[Any, ...], dialect: Dialect) -> JobRecord:
    run_at, created_at = dialect.time_out(row[5]), dialect.time_out(row[9])
    assert run_at is not None and created_at is not None  # NOT NULL columns
    return JobRecord(
        id=row[0],
        function=row[1],
        args=dialect.json_out(row[3]),
        state=row[4],
        run_at=run_at,
        attempts=row[6],
        error=row[8],
        created_at=created_at,
        started_at=dialect.time_out(row[10]),
        finished_at=dialect.time_out(row[11]),
    )
