"""`tq.Audit`: how the app records its audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tasquencer.records import TraceSpan


class SpanExporter(Protocol):
    """Receives the spans of each committed call, per trace (`tq.OpenTelemetryExporter`)."""

    def export(self, trace_id: str, spans: list[TraceSpan]) -> None: ...


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit trail's settings; `tq.App(..., audit=None)` records nothing.

    `include_payloads`: keep what each call was given in its span (off by default: payloads may
    hold personal data). `checkpoint_every`: spans of a trace between checkpoints of its state,
    so that time travel replays at most that many. `exporter`: also hand the spans of every
    committed call to it (e.g. `tq.OpenTelemetryExporter()`).
    """

    include_payloads: bool = False
    checkpoint_every: int = 200
    exporter: SpanExporter | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 2:
            raise ValueError(
                f"tq.Audit(checkpoint_every=...) must be an int of at least 2, "
                f"got {self.checkpoint_every!r}"
            )
