"""The audit trail's statements, as Core objects compiled once per dialect."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer.store.sql import Statement
from tasquencer.store.tables import audit_checkpoints, audit_spans, audit_traces, workflows

INSERT_TRACE = Statement(
    sa.insert(audit_traces).values({c.name: p(c.name) for c in audit_traces.columns})
)
UPDATE_TRACE = Statement(
    sa.update(audit_traces)
    .where(audit_traces.c.key == p("key"))
    .values(state=p("state"), ended_at=p("ended_at"))
)
# PostgreSQL: takes `count` numbers of the trace; its spans of this call start at result - count.
TAKE_NUMBERS = Statement(
    sa.update(audit_traces)
    .where(audit_traces.c.key == p("key"))
    .values(next_seq=audit_traces.c.next_seq + p("count"))
    .returning(audit_traces.c.next_seq)
)
INSERT_NUMBERED_SPANS = Statement(
    sa.insert(audit_spans).values({c.name: p(c.name) for c in audit_spans.columns})
)
_later = audit_spans.alias("later")
# SQLite: a call's spans of one trace, numbered after the trace's last: returns the first number.
INSERT_SPANS = Statement(
    sa.insert(audit_spans)
    .values(
        trace_id=p("trace_id"),
        seq=sa.func.coalesce(
            sa.select(_later.c.seq + _later.c.count)
            .where(_later.c.trace_id == p("trace_id"))
            .order_by(_later.c.seq.desc())
            .limit(1)
            .scalar_subquery(),
            0,
        ),
        count=p("count"),
        at=p("at"),
        spans=p("spans"),
    )
    .returning(audit_spans.c.seq)
)
INSERT_CHECKPOINT = Statement(
    sa.insert(audit_checkpoints).values({c.name: p(c.name) for c in audit_checkpoints.columns})
)
# The last checkpoint at or before a sequence number and a time.
LATEST_CHECKPOINT = Statement(
    sa.select(audit_checkpoints.c.seq, audit_checkpoints.c.state)
    .where(
        audit_checkpoints.c.trace_id == p("trace_id"),
        audit_checkpoints.c.seq <= p("seq"),
        audit_checkpoints.c.at <= p("at"),
    )
    .order_by(audit_checkpoints.c.seq.desc())
    .limit(1)
)
# The calls' rows of a trace after a sequence number and before another, up to a time, in order.
SPANS_AFTER = Statement(
    sa.select(audit_spans.c.seq, audit_spans.c.spans)
    .where(
        audit_spans.c.trace_id == p("trace_id"),
        audit_spans.c.seq > p("after"),
        audit_spans.c.seq < p("before"),
        audit_spans.c.at <= p("at"),
    )
    .order_by(audit_spans.c.seq)
)
SELECT_ROOT = Statement(
    sa.select(workflows.c.name, workflows.c.version_name, workflows.c.state).where(
        workflows.c.id == p("id")
    )
)


def trace_key(trace_id: str) -> str:
    """The key of a trace's row: its id reversed (see `tables.audit_traces`)."""
    return trace_id[::-1]
