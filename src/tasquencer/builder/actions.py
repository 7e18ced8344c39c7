"""Actions: the typed boundary through which work items and workflows are driven."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

ActionCallback = Callable[[Any, Any], None]


@dataclass(frozen=True, slots=True)
class Action:
    """A payload schema and the callback that runs with the validated payload.

    `schema=None` means the action takes no payload; `typing.Any` accepts anything.
    `callback=None` is the default action: internal callers only, then the transition.
    """

    schema: Any
    callback: ActionCallback | None = None


DEFAULT_ACTION = Action(schema=Any, callback=None)


@dataclass(frozen=True, slots=True)
class WorkItemActionsBuilder:
    """`Builder.work_item_actions()`: custom callbacks for any of the six work item actions."""

    actions: tuple[tuple[str, Action], ...] = ()

    def initialize(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("initialize", schema, callback)

    def start(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("start", schema, callback)

    def complete(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("complete", schema, callback)

    def fail(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("fail", schema, callback)

    def cancel(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("cancel", schema, callback)

    def reset(self, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        return self._with("reset", schema, callback)

    def _with(self, name: str, schema: Any, callback: ActionCallback) -> WorkItemActionsBuilder:
        _check_callback(name, callback)
        return replace(self, actions=(*self.actions, (name, Action(schema, callback))))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


@dataclass(frozen=True, slots=True)
class WorkflowActionsBuilder:
    """`Builder.workflow_actions()`: custom initialize and cancel callbacks of a workflow."""

    actions: tuple[tuple[str, Action], ...] = ()

    def initialize(self, schema: Any, callback: ActionCallback) -> WorkflowActionsBuilder:
        return self._with("initialize", schema, callback)

    def cancel(self, schema: Any, callback: ActionCallback) -> WorkflowActionsBuilder:
        return self._with("cancel", schema, callback)

    def _with(self, name: str, schema: Any, callback: ActionCallback) -> WorkflowActionsBuilder:
        _check_callback(name, callback)
        return replace(self, actions=(*self.actions, (name, Action(schema, callback))))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


def _check_callback(name: str, callback: object) -> None:
    if not callable(callback):
        raise TypeError(
            f"the {name} action needs a callback `(ctx, payload) -> None`, got {callback!r}"
        )
