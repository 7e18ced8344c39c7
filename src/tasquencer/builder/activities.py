"""Activities: lifecycle callbacks `(ctx) -> None` that keep the user's own tables in sync."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# How activities are kept once their types have been checked at the builder.
Activity = Callable[[Any], object]

WORKFLOW_ACTIVITIES = ("on_initialized", "on_started", "on_completed", "on_failed", "on_canceled")
WORK_ITEM_ACTIVITIES = (
    "on_initialized",
    "on_started",
    "on_completed",
    "on_failed",
    "on_canceled",
    "on_reset",
)
_TASK_COMMON = (
    "on_enabled",
    "on_started",
    "on_completed",
    "on_failed",
    "on_canceled",
    "on_disabled",
)
TASK_ACTIVITIES = (*_TASK_COMMON, "on_work_item_state_changed")
COMPOSITE_TASK_ACTIVITIES = (*_TASK_COMMON, "on_workflow_state_changed")
DUMMY_TASK_ACTIVITIES = _TASK_COMMON


@dataclass(frozen=True, slots=True)
class Activities:
    """The activities set on one element; a missing one is a no-op."""

    callbacks: Mapping[str, Activity] = field(default_factory=lambda: MappingProxyType({}))

    def merged(self, allowed: tuple[str, ...], given: Mapping[str, object]) -> Activities:
        """A copy with the given callbacks set (later calls override earlier ones)."""
        updated = dict(self.callbacks)
        for name, callback in given.items():
            if name not in allowed:
                raise TypeError(
                    f"unknown activity {name!r}; this element accepts: {', '.join(allowed)}"
                )
            if callback is None:
                continue
            if not callable(callback):
                raise TypeError(f"activity {name} must be a callable `(ctx) -> None`")
            updated[name] = callback
        return Activities(MappingProxyType(updated))

    def get(self, name: str) -> Activity | None:
        return self.callbacks.get(name)
