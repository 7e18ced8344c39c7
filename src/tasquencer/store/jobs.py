"""Statements on the jobs table and the element→job index."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer.store.sql import Statement
from tasquencer.store.tables import jobs, scheduled

JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.function,
    jobs.c.kind,
    jobs.c.args,
    jobs.c.state,
    jobs.c.run_at,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.error,
    jobs.c.created_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.lease_owner,
    jobs.c.lease_expires_at,
)

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
SELECT_JOB = Statement(sa.select(*JOB_COLUMNS).where(jobs.c.id == p("id")))
CANCEL_JOB = Statement(
    sa.update(jobs)
    .where(jobs.c.id == p("id"), jobs.c.state.in_(["pending", "in_progress"]))
    .values(state="canceled", finished_at=p("now"))
)
REGISTER_JOB = Statement(
    sa.insert(scheduled).values(element_key=p("key"), job_id=p("job_id"), created_at=p("now"))
)
CANCEL_REGISTERED_JOBS = Statement(
    sa.update(jobs)
    .where(
        jobs.c.state.in_(["pending", "in_progress"]),
        jobs.c.id.in_(sa.select(scheduled.c.job_id).where(scheduled.c.element_key == p("key"))),
    )
    .values(state="canceled", finished_at=p("now"))
)
FORGET_REGISTERED_JOBS = Statement(sa.delete(scheduled).where(scheduled.c.element_key == p("key")))
