"""Pruning the audit trail: traces of trees that ended long ago, their spans and checkpoints."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tasquencer.runtime.transaction import Transaction
from tasquencer.store.tables import audit_checkpoints, audit_spans, audit_traces

_FINISHED = ("completed", "failed", "canceled")


def prune(tx: Transaction, before: datetime) -> int:
    """Delete the traces whose root workflow finished before `before`; returns how many."""
    ended = sa.select(audit_traces.c.trace_id).where(
        audit_traces.c.state.in_(_FINISHED),
        audit_traces.c.ended_at <= tx.core.dialect.time_in(before),
    )
    ids = [trace_id for (trace_id,) in tx.connection.execute(ended)]
    for table in (audit_spans, audit_checkpoints, audit_traces):
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            tx.connection.execute(sa.delete(table).where(table.c.trace_id.in_(chunk)))
    return len(ids)
