"""Actions: the typed boundary through which work items and workflows are driven.

An action is a payload schema and a callback `(ctx, payload) -> None` that runs with the
validated payload. The schema is a pydantic model (the callback gets an instance), any type
pydantic validates (`dict[str, int]`, `Literal[...]`), `None` (no payload allowed: the callback
gets None) or `typing.Any` (anything, unvalidated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import UnionType
from typing import Any, TypeVar, _SpecialForm, overload

from tasquencer.contexts import (
    WorkflowCancelContext,
    WorkflowInitializeContext,
    WorkItemActionContext,
)

P = TypeVar("P")
# The schemas that are not classes: `Literal[...]`, `Union[...]`, `Annotated[...]`, `A | B`.
SpecialSchema = _SpecialForm | UnionType
# How callbacks are kept once their types have been checked at the builder.
ActionCallback = Callable[[Any, Any], object]


@dataclass(frozen=True, slots=True)
class Action:
    """A payload schema and the callback that runs with the validated payload.

    `callback=None` is the default action: internal callers only, then the transition.
    """

    schema: object
    callback: ActionCallback | None = None


DEFAULT_ACTION = Action(schema=Any, callback=None)
WorkItemCallback = Callable[[WorkItemActionContext, P], object]


@dataclass(frozen=True, slots=True)
class WorkItemActionsBuilder:
    """`Builder.work_item_actions()`: custom callbacks for any of the six work item actions."""

    actions: tuple[tuple[str, Action], ...] = ()

    @overload
    def initialize(
        self, schema: type[P], callback: WorkItemCallback[P]
    ) -> WorkItemActionsBuilder: ...
    @overload
    def initialize(
        self, schema: None, callback: WorkItemCallback[None]
    ) -> WorkItemActionsBuilder: ...
    @overload
    def initialize(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def initialize(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        """The initialize action: `ctx.work_item.initialize()` creates the work item."""
        return self._with("initialize", schema, callback)

    @overload
    def start(self, schema: type[P], callback: WorkItemCallback[P]) -> WorkItemActionsBuilder: ...
    @overload
    def start(self, schema: None, callback: WorkItemCallback[None]) -> WorkItemActionsBuilder: ...
    @overload
    def start(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def start(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        return self._with("start", schema, callback)

    @overload
    def complete(
        self, schema: type[P], callback: WorkItemCallback[P]
    ) -> WorkItemActionsBuilder: ...
    @overload
    def complete(
        self, schema: None, callback: WorkItemCallback[None]
    ) -> WorkItemActionsBuilder: ...
    @overload
    def complete(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def complete(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        return self._with("complete", schema, callback)

    @overload
    def fail(self, schema: type[P], callback: WorkItemCallback[P]) -> WorkItemActionsBuilder: ...
    @overload
    def fail(self, schema: None, callback: WorkItemCallback[None]) -> WorkItemActionsBuilder: ...
    @overload
    def fail(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def fail(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        return self._with("fail", schema, callback)

    @overload
    def cancel(self, schema: type[P], callback: WorkItemCallback[P]) -> WorkItemActionsBuilder: ...
    @overload
    def cancel(self, schema: None, callback: WorkItemCallback[None]) -> WorkItemActionsBuilder: ...
    @overload
    def cancel(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def cancel(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        return self._with("cancel", schema, callback)

    @overload
    def reset(self, schema: type[P], callback: WorkItemCallback[P]) -> WorkItemActionsBuilder: ...
    @overload
    def reset(self, schema: None, callback: WorkItemCallback[None]) -> WorkItemActionsBuilder: ...
    @overload
    def reset(
        self, schema: SpecialSchema, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder: ...
    def reset(self, schema: object, callback: WorkItemCallback[Any]) -> WorkItemActionsBuilder:
        return self._with("reset", schema, callback)

    def _with(
        self, name: str, schema: object, callback: WorkItemCallback[Any]
    ) -> WorkItemActionsBuilder:
        _check_callback(name, callback)
        return replace(self, actions=(*self.actions, (name, Action(schema, callback))))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


InitializeCallback = Callable[[WorkflowInitializeContext, P], object]
CancelCallback = Callable[[WorkflowCancelContext, P], object]


@dataclass(frozen=True, slots=True)
class WorkflowActionsBuilder:
    """`Builder.workflow_actions()`: custom initialize and cancel callbacks of a workflow."""

    actions: tuple[tuple[str, Action], ...] = ()

    @overload
    def initialize(
        self, schema: type[P], callback: InitializeCallback[P]
    ) -> WorkflowActionsBuilder: ...
    @overload
    def initialize(
        self, schema: None, callback: InitializeCallback[None]
    ) -> WorkflowActionsBuilder: ...
    @overload
    def initialize(
        self, schema: SpecialSchema, callback: InitializeCallback[Any]
    ) -> WorkflowActionsBuilder: ...
    def initialize(
        self, schema: object, callback: InitializeCallback[Any]
    ) -> WorkflowActionsBuilder:
        """The initialize action: `ctx.workflow.initialize()` creates the workflow."""
        return self._with("initialize", schema, callback)

    @overload
    def cancel(self, schema: type[P], callback: CancelCallback[P]) -> WorkflowActionsBuilder: ...
    @overload
    def cancel(self, schema: None, callback: CancelCallback[None]) -> WorkflowActionsBuilder: ...
    @overload
    def cancel(
        self, schema: SpecialSchema, callback: CancelCallback[Any]
    ) -> WorkflowActionsBuilder: ...
    def cancel(self, schema: object, callback: CancelCallback[Any]) -> WorkflowActionsBuilder:
        """The cancel action: `ctx.workflow.cancel()` marks it canceled; teardown follows."""
        return self._with("cancel", schema, callback)

    def _with(self, name: str, schema: object, callback: ActionCallback) -> WorkflowActionsBuilder:
        _check_callback(name, callback)
        return replace(self, actions=(*self.actions, (name, Action(schema, callback))))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


def _check_callback(name: str, callback: object) -> None:
    if not callable(callback):
        raise TypeError(
            f"the {name} action needs a callback `(ctx, payload) -> None`, got {callback!r}"
        )
