"""What the audit trail answers: a workflow's history, its trace's spans, its state at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tasquencer.audit import replay
from tasquencer.audit import statements as st
from tasquencer.audit.recorder import span_record
from tasquencer.errors import AuditRecordMissingError, WorkflowNotYetCreatedError
from tasquencer.records import HistoryEvent, TraceSpan, WorkflowSnapshot
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.rows import WorkflowRow
from tasquencer.store.tables import audit_spans

_NO_END = 2**31 - 1  # past any sequence number (an INTEGER column)
_KEY_KINDS = frozenset({"Workflow", "Task", "WorkItem"})


def state_at(tx: Transaction, workflow: WorkflowRow, when: datetime) -> WorkflowSnapshot:
    """The workflow's snapshot as it was at `when`: the latest checkpoint of its tree at or
    before then, and the spans recorded since, up to `when`."""
    db, d = tx.db, tx.core.dialect
    trace = workflow.root_workflow_id
    at = d.time_in(when)
    found = db.one(st.LATEST_CHECKPOINT, {"trace_id": trace, "seq": _NO_END, "at": at})
    state = d.json_out(found[1]) if found is not None else replay.empty()
    after = found[0] if found is not None else -1
    spans = db.all(st.SPANS_AFTER, {"trace_id": trace, "after": after, "before": _NO_END, "at": at})
    replay.apply(state, replay.unpacked(trace, spans, d.json_out))
    result = replay.snapshot(state, workflow.id)
    if result is None:
        raise _why_missing(tx, workflow, when)
    return result


def history(tx: Transaction, workflow: WorkflowRow) -> list[HistoryEvent]:
    """The changes of the workflow, its tasks and work items, oldest first, with their callers."""
    callers: dict[int, tuple[Any, Any, Any]] = {}
    events = []
    for span in _spans(tx, workflow.root_workflow_id):
        seq, parent, operation = span.seq, span.parent_seq, span.operation
        if span.caller is not None:
            callers[seq] = (span.caller, span.user_id, span.correlation_id)
        elif parent is not None and parent in callers:
            callers[seq] = callers[parent]
        kind = operation.partition(".")[0]
        if kind not in _KEY_KINDS or span.workflow_id != workflow.id:
            continue
        caller, user_id, correlation_id = callers.get(seq, (None, None, None))
        events.append(
            HistoryEvent(
                seq,
                span.at,
                operation,
                span.resource or "",
                span.state,
                span.number if kind != "Workflow" else None,
                caller,
                user_id,
                correlation_id,
            )
        )
    return events


def trace_spans(tx: Transaction, workflow: WorkflowRow) -> list[TraceSpan]:
    """The spans of the workflow's tree as a tree: the top-level spans, each with its children."""
    by_seq: dict[int, TraceSpan] = {}
    top: list[TraceSpan] = []
    for span in _spans(tx, workflow.root_workflow_id):
        by_seq[span.seq] = span
        parent = by_seq.get(span.parent_seq) if span.parent_seq is not None else None
        (parent.children if parent is not None else top).append(span)
    return top


def _spans(tx: Transaction, trace: str) -> list[TraceSpan]:
    d = tx.core.dialect
    rows = tx.connection.execute(
        sa.select(audit_spans.c.seq, audit_spans.c.at, audit_spans.c.spans)
        .where(audit_spans.c.trace_id == trace)
        .order_by(audit_spans.c.seq)
    )
    spans: list[TraceSpan] = []
    for seq, stored_at, packed in rows:
        at = d.time_out(stored_at)
        assert at is not None
        stored = [(seq, packed)]
        spans.extend(span_record(trace, at, r) for r in replay.unpacked(trace, stored, d.json_out))
    return spans


def _why_missing(tx: Transaction, workflow: WorkflowRow, when: datetime) -> Exception:
    for span in _spans(tx, workflow.root_workflow_id):
        if span.operation == replay.WORKFLOW_CREATED and span.resource == workflow.id:
            return WorkflowNotYetCreatedError(workflow.id, when, span.at)
    return AuditRecordMissingError(workflow.id)
