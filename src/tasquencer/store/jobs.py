"""Statements on the jobs tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam as p
from sqlalchemy.dialects import postgresql, sqlite

from tasquencer.store.sql import Statement
from tasquencer.store.tables import job_cancels, job_runs, jobs

_canceled_at = (
    sa.select(job_cancels.c.canceled_at).where(job_cancels.c.job_id == jobs.c.id).scalar_subquery()
)
_cancel_recorded = sa.and_(jobs.c.state == "pending", _canceled_at.is_not(None))
# A job as readers see it: a pending job whose cancellation is recorded is canceled.
job_state = sa.case((_cancel_recorded, "canceled"), else_=jobs.c.state)
JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.function,
    jobs.c.kind,
    jobs.c.args,
    job_state.label("state"),
    jobs.c.run_at,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.error,
    jobs.c.created_at,
    jobs.c.started_at,
    sa.case((_cancel_recorded, _canceled_at), else_=jobs.c.finished_at).label("finished_at"),
    jobs.c.lease_owner,
    jobs.c.lease_expires_at,
)

_cancelable = sa.or_(jobs.c.state == "pending", jobs.c.state == "in_progress")

INSERT_JOB = Statement(
    sa.insert(jobs).values(
        id=p("id"),
        function=p("function"),
        kind=p("kind"),
        args=p("args"),
        state="pending",
        run_at=p("run_at"),
        attempts=0,
        max_attempts=p("max_attempts"),
        created_at=p("created_at"),
    )
)
# Delivered when the transaction commits (PostgreSQL); see runtime.wakeup.
NOTIFY_WORKERS = Statement(sa.text("NOTIFY tasquencer_jobs"))
SELECT_JOB = Statement(sa.select(*JOB_COLUMNS).where(jobs.c.id == p("id")))
# A mutation job already applied (its run recorded, its success mark still to come) is not
# canceled any more: it happened.
CANCEL_JOB = Statement(
    sa.update(jobs)
    .where(
        jobs.c.id == p("id"),
        _cancelable,
        ~sa.exists().where(job_runs.c.job_id == jobs.c.id),
    )
    .values(state="canceled", finished_at=p("now"))
)
# An element's teardown cancels its tied jobs that have not started; one already running (an
# action calling back into this very element, typically) finishes and keeps its own outcome.
# SQLite cancels them in the call. On PostgreSQL the call only records the cancellation (see
# tables.job_cancels), which `APPLY_CANCELS` applies once it has committed, or a worker
# (`CANCEL_DUE_JOB`) when the job comes due first.
CANCEL_TIED_JOB = Statement(
    {
        "sqlite": sa.update(jobs)
        .where(jobs.c.id == p("id"), jobs.c.state == "pending")
        .values(state="canceled", finished_at=p("now")),
        "postgresql": postgresql.insert(job_cancels)
        .values(job_id=p("id"), canceled_at=p("now"))
        .on_conflict_do_nothing(),
    }
)
APPLY_CANCELS = Statement(
    sa.text(
        "WITH applied AS (DELETE FROM tasquencer_job_cancels WHERE job_id = ANY(:ids)"
        " RETURNING job_id, canceled_at)"
        " UPDATE tasquencer_jobs SET state = 'canceled', finished_at = applied.canceled_at"
        " FROM applied WHERE tasquencer_jobs.id = applied.job_id"
        " AND tasquencer_jobs.state = 'pending'"
    )
)
# The worker leaves the record (deleting it too could deadlock with `APPLY_CANCELS`, which
# takes the record first): a record outliving its job's cancellation is harmless.
CANCEL_DUE_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state == "pending")
    .values(state="canceled", finished_at=_canceled_at)
)


_finished_before = sa.and_(
    sa.or_(jobs.c.state == "success", jobs.c.state == "failed", jobs.c.state == "canceled"),
    jobs.c.finished_at <= p("before"),
)
_pruned_ids = sa.select(jobs.c.id).where(_finished_before)
# Retention: finished jobs go with their run records and cancellations never applied.
PRUNE_JOB_RUNS = Statement(sa.delete(job_runs).where(job_runs.c.job_id.in_(_pruned_ids)))
PRUNE_CANCELS = Statement(sa.delete(job_cancels).where(job_cancels.c.job_id.in_(_pruned_ids)))
PRUNE_JOBS = Statement(sa.delete(jobs).where(_finished_before))


def _due_jobs(lock: bool) -> sa.Select[Any]:
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.function,
            jobs.c.kind,
            jobs.c.args,
            jobs.c.attempts,
            _canceled_at.is_not(None),
        )
        .where(jobs.c.state == "pending", jobs.c.run_at <= p("now"))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(p("limit"))
    )
    return query.with_for_update(skip_locked=True) if lock else query


# A worker claims the earliest due jobs; on PostgreSQL other workers skip the locked rows. A due
# job whose cancellation is recorded comes too, for the worker to apply it.
SELECT_DUE_JOBS = Statement({"sqlite": _due_jobs(False), "postgresql": _due_jobs(True)})
NEXT_RUN_AT = Statement(sa.select(sa.func.min(jobs.c.run_at)).where(jobs.c.state == "pending"))
SELECT_JOB_STATE = Statement(
    sa.select(jobs.c.state, jobs.c.lease_owner).where(jobs.c.id == p("id"))
)
CLAIM_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state == "pending")
    .values(
        state="in_progress",
        attempts=jobs.c.attempts + 1,
        started_at=p("now"),
        lease_owner=p("owner"),
        lease_expires_at=p("expires"),
    )
)


def _renew_lease(lock: bool) -> sa.Update:
    held = sa.select(jobs.c.id).where(
        jobs.c.id == p("id"), jobs.c.lease_owner == p("owner"), jobs.c.state == "in_progress"
    )
    if lock:
        held = held.with_for_update(skip_locked=True)
    return sa.update(jobs).where(jobs.c.id.in_(held)).values(lease_expires_at=p("expires"))


# Renewal never waits for a row: a job locked by another transaction of this worker is being
# claimed or settled right now, and waiting for it while holding the rows renewed before could
# deadlock with that transaction. It is renewed at the next tick if it still needs a lease.
RENEW_LEASE = Statement({"sqlite": _renew_lease(False), "postgresql": _renew_lease(True)})
# Gives back a claimed job this worker did not get to run (it is stopping).
UNCLAIM_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state == "in_progress", jobs.c.lease_owner == p("owner"))
    .values(
        state="pending",
        attempts=jobs.c.attempts - 1,
        started_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )
)
# Written by a scheduled mutation in its own transaction; see tables.job_runs.
RECORD_JOB_RUN = Statement(
    {
        dialect: insert(job_runs)
        .values(job_id=p("id"), worker=p("owner"), committed_at=p("now"))
        .on_conflict_do_nothing()
        for dialect, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
    }
)
# Ends a job this worker holds: success, failure, or back to pending for a retry. A job
# canceled while it ran stays canceled (the state filter leaves it alone).
SETTLE_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state == "in_progress", jobs.c.lease_owner == p("owner"))
    .values(
        state=p("state"),
        error=p("error"),
        run_at=sa.func.coalesce(p("run_at"), jobs.c.run_at),
        finished_at=p("finished_at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
RELEASE_LEASE = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.lease_owner == p("owner"))
    .values(lease_owner=None, lease_expires_at=None)
)


def _expired(lock: bool) -> sa.Select[Any]:
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.function,
            jobs.c.kind,
            jobs.c.attempts,
            jobs.c.max_attempts,
            job_runs.c.job_id.is_not(None),
        )
        .outerjoin(job_runs, job_runs.c.job_id == jobs.c.id)
        .where(jobs.c.state == "in_progress", jobs.c.lease_expires_at < p("now"))
    )
    return query.with_for_update(of=jobs, skip_locked=True) if lock else query


SELECT_EXPIRED_LEASES = Statement({"sqlite": _expired(False), "postgresql": _expired(True)})
RECOVER_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state == "in_progress")
    .values(
        state=p("state"),
        error=p("error"),
        run_at=sa.func.coalesce(p("run_at"), jobs.c.run_at),
        finished_at=p("finished_at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
