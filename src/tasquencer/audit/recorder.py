"""`AuditRecorder`: the spans of one transaction, kept as tuples and written at its flush.

During the call each operation appends one tuple, nested under the innermost open call or
activity. At flush the spans are grouped by trace (the root workflow id) and each trace's are
inserted as one row (one JSON list) by a statement that also numbers them; every
`checkpoint_every` spans of a trace, the tree's state is saved with them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from tasquencer.audit import replay
from tasquencer.audit import statements as st
from tasquencer.audit.config import Audit
from tasquencer.records import TraceSpan
from tasquencer.store.sql import Db

if TYPE_CHECKING:
    from tasquencer.contexts import Caller
    from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance

log = logging.getLogger("tasquencer.audit")
_WORKFLOW_OPS = replay.WORKFLOW_OPS
_TASK_OPS = replay.TASK_OPS
_ITEM_OPS = replay.ITEM_OPS
_ACTIVITY_OPS: dict[tuple[str, str], str] = {}
_FINAL = frozenset({"completed", "failed", "canceled"})
# What a trace's row needs at the next flush.
_SAME, _CHANGED, _NEW = 0, 1, 2
_INCREMENT = "Condition.incrementMarking"
_DECREMENT = "Condition.decrementMarking"
_PAYLOADS: TypeAdapter[Any] = TypeAdapter(Any)
# SQLite stores JSON as text: without spaces, and unchecked for cycles (spans have none).
_compact = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

# A span while the call runs: (parent index, operation, workflow id, root id, resource, state,
# number, attributes, caller, user id, correlation id). Only a call's own span has a caller, and
# is a list whose root is filled in later (by the first span of a tree recorded inside it).
_Span = tuple[Any, ...] | list[Any]


class AuditRecorder:
    """Records one transaction's changes (see `engine.recording.Recorder`)."""

    __slots__ = (
        "_base",
        "_config",
        "_exported",
        "_now",
        "_roots",
        "_seqs",
        "_spans",
        "_stack",
        "_unrooted",
    )

    def __init__(self, config: Audit, now: datetime) -> None:
        self._config = config
        self._now = now
        self._spans: list[_Span] = []
        # Spans are indexed across flushes: `_spans` holds those from index `_base` on, and
        # `_seqs` the (trace, seq) each one before was written as.
        self._base = 0
        self._seqs: list[tuple[str | None, int | None]] = []
        # Indices of the open calls and activities, innermost last.
        self._stack: list[int] = []
        self._unrooted: list[list[Any]] = []
        # Per trace whose root was created or changed: [root name, version, root state, what
        # its row needs (_NEW, _CHANGED, or _SAME once written)].
        self._roots: dict[str, list[Any]] = {}
        self._exported: list[tuple[str, list[TraceSpan]]] = []

    # --- what the engine tells ---------------------------------------------------------------

    def workflow_created(self, workflow: WorkflowInstance) -> None:
        row = workflow.row
        marking = workflow.marking()
        attributes = {
            "name": row.name,
            "version_name": row.version_name,
            "execution_mode": row.execution_mode,
            "parent_workflow_id": row.parent_workflow_id,
            "parent_task_name": row.parent_task_name,
            "parent_task_generation": row.parent_task_generation,
            "tasks": list(workflow.definition.net.tasks),
            "marking": [[name, tokens] for name, tokens in marking.items()],
        }
        root = row.root_workflow_id
        if row.parent_workflow_id is None:
            self._roots[root] = [row.name, row.version_name, row.state, _NEW]
        self._add(replay.WORKFLOW_CREATED, row.id, root, row.id, None, None, attributes)

    def workflow_changed(self, workflow: WorkflowInstance, prev: str) -> None:
        row = workflow.row
        root = row.root_workflow_id
        self._add(_WORKFLOW_OPS[row.state], row.id, root, row.id, row.state, None, None)
        if row.parent_workflow_id is None:
            info = self._roots.get(root)
            if info is None:
                self._roots[root] = [row.name, row.version_name, row.state, _CHANGED]
            else:
                info[2] = row.state
                info[3] = info[3] or _CHANGED

    def task_changed(self, task: TaskInstance, prev: str) -> None:
        row = task.row
        self._add(
            _TASK_OPS[row.state],
            row.workflow_id,
            task.workflow.row.root_workflow_id,
            row.name,
            row.state,
            row.generation,
            None,
        )

    def marking_changed(self, workflow: WorkflowInstance, condition: str, prev: int) -> None:
        row = workflow.row
        tokens = workflow.marking()[condition]
        operation = _INCREMENT if tokens > prev else _DECREMENT
        self._add(operation, row.id, row.root_workflow_id, condition, None, tokens, None)

    def work_item_created(self, item: WorkItemInstance) -> None:
        row = item.row
        attributes = {"name": row.name, "task_name": row.task_name}
        self._add(
            replay.WORK_ITEM_CREATED,
            row.workflow_id,
            row.root_workflow_id,
            row.id,
            row.state,
            row.task_generation,
            attributes,
        )

    def work_item_changed(self, item: WorkItemInstance, prev: str) -> None:
        row = item.row
        operation = _ITEM_OPS[row.state]
        self._add(operation, row.workflow_id, row.root_workflow_id, row.id, row.state, None, None)

    def migrated(self, old: WorkflowInstance, new: WorkflowInstance) -> None:
        old_id, new_id = old.row.id, new.row.id
        self._add(replay.MIGRATED_TO, old_id, old_id, old_id, None, None, {"workflow_id": new_id})
        self._add(replay.MIGRATED_FROM, new_id, new_id, new_id, None, None, {"workflow_id": old_id})

    def call_started(self, name: str, caller: Caller, resource: object, payload: object) -> None:
        # Without one from the caller, a call is correlated by its trace and first span number
        # (filled in when read), which costs no id of its own.
        correlation = caller.correlation_id
        attributes = None
        if self._config.include_payloads and payload is not None:
            attributes = {"payload": _jsonable(payload)}
        user = caller.user
        span = [
            self._stack[-1] if self._stack else None,
            f"Api.{name}",
            None,
            None,
            resource if isinstance(resource, str) else None,
            None,
            None,
            attributes,
            "internal" if caller.is_internal else "external",
            user.id if user is not None else None,
            correlation,
        ]
        self._stack.append(self._base + len(self._spans))
        self._spans.append(span)
        self._unrooted.append(span)

    def call_ended(self) -> None:
        self._stack.pop()

    def activity_started(
        self, kind: str, name: str, workflow: WorkflowInstance, resource: str
    ) -> None:
        row = workflow.row
        index = self._base + len(self._spans)
        operation = _ACTIVITY_OPS.get((kind, name))
        if operation is None:
            operation = _ACTIVITY_OPS[(kind, name)] = f"{kind}.{name}"
        self._add(operation, row.id, row.root_workflow_id, resource, None, None, None)
        self._stack.append(index)

    def activity_ended(self) -> None:
        self._stack.pop()

    def _add(
        self,
        operation: str,
        workflow_id: str,
        root: str,
        resource: str,
        state: str | None,
        number: int | None,
        attributes: dict[str, Any] | None,
    ) -> None:
        stack = self._stack
        self._spans.append(
            (
                stack[-1] if stack else None,
                operation,
                workflow_id,
                root,
                resource,
                state,
                number,
                attributes,
                None,
                None,
                None,
            )
        )
        if self._unrooted:
            for call in self._unrooted:
                call[3] = root
            self._unrooted.clear()

    # --- what the transaction drives -----------------------------------------------------------

    def mark(self) -> object:
        roots = {root: list(info) for root, info in self._roots.items()}
        spans = self._base + len(self._spans)
        return _Mark(spans, len(self._stack), len(self._unrooted), len(self._exported), roots)

    def rewind(self, mark: object) -> None:
        assert isinstance(mark, _Mark)
        spans, stack, unrooted = mark.spans, mark.stack, mark.unrooted
        if spans < self._base:  # written since, in the savepoint now rolled back
            del self._seqs[spans:]
            self._base = spans
            self._spans = []
        del self._spans[spans - self._base :]
        del self._stack[stack:]
        del self._unrooted[unrooted:]
        del self._exported[mark.exported :]
        self._roots = mark.roots

    def flush(self, db: Db) -> None:
        spans = self._spans
        if not spans:
            return
        self._spans = []
        first = self._base
        self._base += len(spans)
        packed = self._packed(spans, first)
        self._seqs.extend((None, None) for _ in spans)
        created = self._write_traces(db, packed)
        d = db.dialect
        at = d.time_in(self._now)
        every = self._config.checkpoint_every
        for root, (rows, indices) in packed.items():
            base = self._insert(db, root, rows, at, root in created)
            for offset, index in enumerate(indices):
                self._seqs[index] = (root, base + offset)
            if (base + len(rows)) // every > base // every:
                self._checkpoint(db, root, base, rows)
            if self._config.exporter is not None:
                records = replay.unpacked(root, [(base, rows)], _same)
                self._exported.append(
                    (root, [span_record(root, self._now, row) for row in records])
                )

    def committed(self) -> None:
        exporter = self._config.exporter
        if exporter is None:
            return
        exported, self._exported = self._exported, []
        for trace_id, spans in exported:
            try:
                exporter.export(trace_id, spans)
            except Exception:  # the call is committed: a failing exporter must not undo that
                log.warning("the audit exporter failed on trace %s", trace_id, exc_info=True)

    # --- writing -------------------------------------------------------------------------------

    def _packed(
        self, spans: list[_Span], first: int
    ) -> dict[str, tuple[list[tuple[Any, ...]], list[int]]]:
        """By trace: the spans as stored (see `tables.audit_spans`), and their indices."""
        seqs = self._seqs
        packed: dict[str, tuple[list[tuple[Any, ...]], list[int]]] = {}
        positions: list[int] = []  # of each span in its trace's list
        for offset, span in enumerate(spans):
            parent, operation, workflow_id, root, resource, _, number, attributes = span[:8]
            if root is None:
                positions.append(-1)
                continue
            found = packed.get(root)
            if found is None:
                found = packed[root] = ([], [])
            rows, indices = found
            positions.append(len(rows))
            if parent is None:
                stored_parent = None
            elif parent >= first:
                same = spans[parent - first][3] == root
                stored_parent = positions[parent - first] if same else None
            else:  # written by an earlier flush of this transaction: its number is known
                parent_root, parent_seq = seqs[parent]
                stored_parent = (
                    -parent_seq - 1 if parent_root == root and parent_seq is not None else None
                )
            # Short rows: the state follows from the operation, the root's id is 0, and what
            # most spans lack (attributes; the caller, on a call's own span) is left off.
            stored = (stored_parent, operation, 0 if workflow_id == root else workflow_id)
            if span[8] is not None:
                rows.append((*stored, resource, number, attributes, span[8], span[9], span[10]))
            elif attributes is not None:
                rows.append((*stored, resource, number, attributes))
            else:
                rows.append((*stored, resource, number))
            indices.append(first + offset)
        return packed

    def _insert(
        self, db: Db, root: str, rows: list[tuple[Any, ...]], at: Any, created: bool
    ) -> int:
        """Insert a trace's spans of this flush as one row; returns the first's number.

        SQLite numbers the row in its insert, from the trace's last row. On PostgreSQL that read
        of the spans' key would predicate-lock the index pages every other tree inserts into
        (a conflict between unrelated calls), so the trace's row counts instead: its update is
        HOT and reads only the traces' key, which only new trees write (and a new tree's
        row, `created` in this flush, already holds its numbers: it reads nothing).
        """
        d = db.dialect
        params = {"trace_id": root, "count": len(rows), "at": at}
        if d.name == "sqlite":
            found = db.one(st.INSERT_SPANS, {**params, "spans": _compact(rows)})
            assert found is not None
            return int(found[0])
        base = 0
        if not created:
            taken = db.one(st.TAKE_NUMBERS, {"key": st.trace_key(root), "count": len(rows)})
            if taken is not None:
                base = int(taken[0]) - len(rows)
            else:  # a tree begun while audit was off: its trace starts now
                self._insert_trace(db, root, self._root_info(db, root), len(rows))
        db.write(st.INSERT_NUMBERED_SPANS, {**params, "seq": base, "spans": d.json_in(rows)})
        return base

    def _root_info(self, db: Db, root: str) -> list[Any]:
        info = self._roots.get(root)
        if info is None:
            found = db.one(st.SELECT_ROOT, {"id": root})
            assert found is not None
            info = self._roots[root] = [found[0], found[1], found[2], _SAME]
        return info

    def _insert_trace(self, db: Db, root: str, info: list[Any], next_seq: int) -> None:
        d = db.dialect
        db.write(
            st.INSERT_TRACE,
            {
                "key": st.trace_key(root),
                "trace_id": root,
                "name": info[0],
                "version_name": info[1],
                "state": info[2],
                "started_at": d.time_in(self._now),
                "ended_at": d.time_in(self._now if info[2] in _FINAL else None),
                "next_seq": next_seq,
            },
        )

    def _write_traces(
        self, db: Db, packed: dict[str, tuple[list[tuple[Any, ...]], list[int]]]
    ) -> set[str]:
        """Insert the traces of new trees (returned), and note the roots' changes of state."""
        d = db.dialect
        created: set[str] = set()
        for root, info in self._roots.items():
            status = info[3]
            if status == _SAME:
                continue
            info[3] = _SAME
            ended = d.time_in(self._now if info[2] in _FINAL else None)
            params = {"key": st.trace_key(root), "state": info[2], "ended_at": ended}
            if status == _CHANGED and db.run(st.UPDATE_TRACE, params):
                continue
            # New, or a tree begun while audit was off, which has no row until its root changes.
            spans = packed.get(root)
            self._insert_trace(db, root, info, len(spans[0]) if spans is not None else 0)
            created.add(root)
        return created

    def _checkpoint(self, db: Db, root: str, base: int, rows: list[tuple[Any, ...]]) -> None:
        """Save the tree's state after this call's last span of it."""
        d = db.dialect
        at = d.time_in(self._now)
        found = db.one(st.LATEST_CHECKPOINT, {"trace_id": root, "seq": base - 1, "at": at})
        state = d.json_out(found[1]) if found is not None else replay.empty()
        after = found[0] if found is not None else -1
        stored = db.all(
            st.SPANS_AFTER, {"trace_id": root, "after": after, "before": base, "at": at}
        )
        replay.apply(state, replay.unpacked(root, stored, d.json_out))
        replay.apply(state, replay.unpacked(root, [(base, rows)], _same))
        db.write(
            st.INSERT_CHECKPOINT,
            {"trace_id": root, "seq": base + len(rows) - 1, "at": at, "state": d.json_in(state)},
        )


@dataclass(frozen=True, slots=True)
class _Mark:
    """Lengths of the recorder's lists, and its traces' states, when a savepoint began."""

    spans: int
    stack: int
    unrooted: int
    exported: int
    roots: dict[str, list[Any]]


def _same(value: Any) -> Any:
    return value


def span_record(trace_id: str, at: datetime, row: replay.SpanRow) -> TraceSpan:
    """The public record of a span as stored."""
    return TraceSpan(
        trace_id,
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        at,
        row[7],
        row[8],
        row[9],
        row[10],
    )


def _jsonable(payload: object) -> Any:
    """A payload as JSON values (a pydantic model as its fields); its repr if it has none."""
    try:
        return _PAYLOADS.dump_python(payload, mode="json")
    except Exception:
        return repr(payload)
