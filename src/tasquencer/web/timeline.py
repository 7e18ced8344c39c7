"""The debugger's timeline: a case's history (the audit trail) as steps, one per call that
changed it, each a point in time the case can be shown at (`api.get_workflow_state_at`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import tasquencer as tq


@dataclass(frozen=True, slots=True)
class Event:
    """A history event as the page lists it: the element by name where it has one."""

    operation: str
    element: str
    state: str | None
    generation: int | None
    caller: str


@dataclass(frozen=True, slots=True)
class Step:
    """The changes one call made, all recorded at the same time."""

    when: datetime
    label: str
    events: list[Event]

    @property
    def at(self) -> str:
        """The `?at=` that shows the case right after this step (ISO 8601, with its offset)."""
        return self.when.isoformat()


@dataclass(frozen=True, slots=True)
class Timeline:
    steps: list[Step]
    current: int  # the step shown
    at: datetime | None  # None: the case as it is now

    @property
    def is_past(self) -> bool:
        return self.at is not None


def of(api: tq.WorkflowApi, now: tq.WorkflowSnapshot, at: datetime | None) -> Timeline:
    """The steps of the case's history; `current` is the last one at or before `at`."""
    try:
        history = api.get_workflow_history(now.id)
    except tq.AuditError:  # recorded with audit off: no timeline
        history = []
    names = {item.id: item.name for item in now.work_items}
    names.update({child.id: child.name for child in now.child_workflows})
    names[now.id] = now.name
    steps = [
        _step(when, [_event(e, names) for e in events])
        for when, events in itertools.groupby(history, key=lambda e: e.at)
    ]
    current = len(steps) - 1
    if at is not None:
        current = max((i for i, step in enumerate(steps) if step.when <= at), default=0)
    return Timeline(steps, current, at)


def _event(event: tq.HistoryEvent, names: dict[str, str]) -> Event:
    who = event.user_id or event.caller or "the engine"
    return Event(
        event.operation,
        names.get(event.element, event.element),
        event.state,
        event.generation,
        who,
    )


def _step(when: datetime, events: list[Event]) -> Step:
    first = events[0]
    more = f" (+{len(events) - 1} changes)" if len(events) > 1 else ""
    return Step(when, f"{first.operation} {first.element} by {first.caller}{more}", events)
