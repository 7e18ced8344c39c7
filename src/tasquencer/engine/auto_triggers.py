"""Auto-triggers: the follow-up transition an activity requests for its work item (§8.7).

Work items created from a task activity queue their `start` request; the queue is drained, in
order, once that activity returns. Every other request runs as soon as its activity returns.
Either way the transition runs as an internal call (§17.6).
"""

from __future__ import annotations

from typing import Any

from tasquencer.engine import work_items
from tasquencer.engine.execution import Execution

_REQUIRED_STATE = {
    "start": ("initialized",),
    "complete": ("started",),
    "fail": ("started",),
    "cancel": ("initialized", "started"),
}


class TriggerQueue:
    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Any]] = []

    def add(self, work_item_id: str, action: str, payload: Any) -> None:
        self.entries.append((work_item_id, action, payload))


def drain(ex: Execution, queue: TriggerQueue) -> None:
    """Run queued requests first in, first out, each with its whole cascade."""
    while queue.entries:
        work_item_id, action, payload = queue.entries.pop(0)
        run(ex, work_item_id, action, payload)


def run(ex: Execution, work_item_id: str, action: str, payload: Any) -> None:
    """Perform one requested transition, unless a cascade already moved the work item on."""
    work_item = ex.uow.work_item(work_item_id)
    if work_item is None or work_item.state not in _REQUIRED_STATE[action]:
        return
    if action == "start":
        work_items.start(ex, work_item, payload, internal=True)
    elif action == "cancel":
        work_items.cancel(ex, work_item, payload, internal=True)
    else:
        work_items.finish(ex, work_item, payload, action, internal=True)
