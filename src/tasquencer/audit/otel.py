"""`tq.OpenTelemetryExporter`: the audit trail's spans, handed to OpenTelemetry after commit.

Needs the `otel` extra (`pip install tasquencer[otel]`); the rest of the package works
without it. Each workflow tree is one OpenTelemetry trace, whose id is derived from the root
workflow id, so the spans of all its calls line up in one trace whatever process made them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tasquencer.records import TraceSpan

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider


class OpenTelemetryExporter:
    """A `tq.Audit(exporter=...)` that makes an OpenTelemetry span of every audit span."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "tq.OpenTelemetryExporter needs OpenTelemetry: pip install 'tasquencer[otel]'"
            ) from error
        self._trace = trace
        self._tracer: Tracer = trace.get_tracer("tasquencer", tracer_provider=tracer_provider)

    def export(self, trace_id: str, spans: list[TraceSpan]) -> None:
        trace = self._trace
        root = trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id=_otel_id(trace_id, 16),
                span_id=_otel_id(trace_id, 8),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
        )
        made: dict[int, Span] = {}
        for span in spans:
            parent = made.get(span.parent_seq) if span.parent_seq is not None else None
            context = trace.set_span_in_context(parent if parent is not None else root)
            at = int(span.at.timestamp() * 1_000_000_000)
            made[span.seq] = otel_span = self._tracer.start_span(
                span.operation, context=context, start_time=at, attributes=_attributes(span)
            )
            otel_span.end(end_time=at)


def _otel_id(text: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big") or 1


def _attributes(span: TraceSpan) -> dict[str, Any]:
    values = {
        "tasquencer.trace_id": span.trace_id,
        "tasquencer.seq": span.seq,
        "tasquencer.workflow_id": span.workflow_id,
        "tasquencer.resource": span.resource,
        "tasquencer.state": span.state,
        "tasquencer.number": span.number,
        "tasquencer.caller": span.caller,
        "tasquencer.user_id": span.user_id,
        "tasquencer.correlation_id": span.correlation_id,
    }
    return {key: value for key, value in values.items() if value is not None}
