"""Auto-triggers: the follow-up transition an activity requests for its work item.

Work items created from a task activity queue their `start` request; the queue is drained, in
order, once that activity returns. Every other request runs as soon as its activity returns.
Either way the transition runs as an internal call, on behalf of the activity's caller.
"""

from __future__ import annotations

from tasquencer.contexts import Caller
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
        self.entries: list[tuple[str, str, object, Caller]] = []

    def add(self, work_item_id: str, action: str, payload: object, caller: Caller) -> None:
        self.entries.append((work_item_id, action, payload, caller))


def drain(ex: Execution, queue: TriggerQueue) -> None:
    """Run queued requests first in, first out, each with its whole cascade."""
    while queue.entries:
        work_item_id, action, payload, caller = queue.entries.pop(0)
        run(ex, work_item_id, action, payload, caller)


def run(ex: Execution, work_item_id: str, action: str, payload: object, caller: Caller) -> None:
    """Perform one requested transition as an internal call (on behalf of `caller`), unless a
    cascade already moved the work item on."""
    item = ex.find_work_item(work_item_id)
    if item is None or item.row.state not in _REQUIRED_STATE[action]:
        return
    internal = caller.as_internal()
    if action == "start":
        work_items.start(item, payload, internal)
    elif action == "cancel":
        work_items.cancel(item, payload, internal)
    else:
        work_items.finish(item, payload, action, internal)
