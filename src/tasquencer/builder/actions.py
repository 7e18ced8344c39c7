"""Actions: the typed boundary through which work items and workflows are driven.

An action is a payload schema and a callback `(ctx, payload) -> None` that runs with the
validated payload. The schema is a pydantic model (the callback gets an instance), any type
pydantic validates (`dict[str, int]`, `Literal[...]`), `None` (no payload allowed: the callback
gets None) or `typing.Any` (anything, unvalidated).

`policy=` guards an action: external calls run it only when the policy allows them
(`tq.require_scope("er:triage:write")`, ...); internal calls skip it. An action given a policy
and no callback is the default action opened to the external callers the policy allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import UnionType
from typing import Any, TypeVar, _SpecialForm, overload

from tasquencer.contexts import (
    AccessPolicy,
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
    """A payload schema, the callback that runs with the validated payload, and the access
    policy external calls must pass.

    `callback=None` is the default action: the transition alone, for internal callers only,
    or for the external callers `policy` allows.
    """

    schema: object
    callback: ActionCallback | None = None
    policy: AccessPolicy | None = None


DEFAULT_ACTION = Action(schema=Any, callback=None)
WorkItemCallback = Callable[[WorkItemActionContext, P], object]


@dataclass(frozen=True, slots=True)
class WorkItemActionsBuilder:
    """`Builder.work_item_actions()`: custom callbacks, or access policies, for any of the six
    work item actions."""

    actions: tuple[tuple[str, Action], ...] = ()

    @overload
    def initialize(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def initialize(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def initialize(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def initialize(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def initialize(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        """The initialize action: `ctx.work_item.initialize()` creates the work item."""
        return self._with("initialize", schema, callback, policy)

    @overload
    def start(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def start(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def start(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def start(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def start(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        return self._with("start", schema, callback, policy)

    @overload
    def complete(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def complete(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def complete(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def complete(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def complete(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        return self._with("complete", schema, callback, policy)

    @overload
    def fail(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def fail(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def fail(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def fail(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def fail(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        return self._with("fail", schema, callback, policy)

    @overload
    def cancel(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def cancel(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def cancel(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def cancel(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def cancel(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        return self._with("cancel", schema, callback, policy)

    @overload
    def reset(
        self, schema: type[P], callback: WorkItemCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def reset(
        self, schema: None, callback: WorkItemCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkItemActionsBuilder: ...
    @overload
    def reset(
        self,
        schema: SpecialSchema,
        callback: WorkItemCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkItemActionsBuilder: ...
    @overload
    def reset(self, *, policy: AccessPolicy) -> WorkItemActionsBuilder: ...
    def reset(
        self,
        schema: object = Any,
        callback: WorkItemCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkItemActionsBuilder:
        return self._with("reset", schema, callback, policy)

    def _with(
        self,
        name: str,
        schema: object,
        callback: WorkItemCallback[Any] | None,
        policy: AccessPolicy | None,
    ) -> WorkItemActionsBuilder:
        action = _action(name, schema, callback, policy)
        return replace(self, actions=(*self.actions, (name, action)))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


InitializeCallback = Callable[[WorkflowInitializeContext, P], object]
CancelCallback = Callable[[WorkflowCancelContext, P], object]


@dataclass(frozen=True, slots=True)
class WorkflowActionsBuilder:
    """`Builder.workflow_actions()`: custom initialize and cancel callbacks of a workflow, or
    access policies for them."""

    actions: tuple[tuple[str, Action], ...] = ()

    @overload
    def initialize(
        self, schema: type[P], callback: InitializeCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkflowActionsBuilder: ...
    @overload
    def initialize(
        self, schema: None, callback: InitializeCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkflowActionsBuilder: ...
    @overload
    def initialize(
        self,
        schema: SpecialSchema,
        callback: InitializeCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkflowActionsBuilder: ...
    @overload
    def initialize(self, *, policy: AccessPolicy) -> WorkflowActionsBuilder: ...
    def initialize(
        self,
        schema: object = Any,
        callback: InitializeCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkflowActionsBuilder:
        """The initialize action: `ctx.workflow.initialize()` creates the workflow."""
        return self._with("initialize", schema, callback, policy)

    @overload
    def cancel(
        self, schema: type[P], callback: CancelCallback[P], *, policy: AccessPolicy | None = ...
    ) -> WorkflowActionsBuilder: ...
    @overload
    def cancel(
        self, schema: None, callback: CancelCallback[None], *, policy: AccessPolicy | None = ...
    ) -> WorkflowActionsBuilder: ...
    @overload
    def cancel(
        self,
        schema: SpecialSchema,
        callback: CancelCallback[Any],
        *,
        policy: AccessPolicy | None = ...,
    ) -> WorkflowActionsBuilder: ...
    @overload
    def cancel(self, *, policy: AccessPolicy) -> WorkflowActionsBuilder: ...
    def cancel(
        self,
        schema: object = Any,
        callback: CancelCallback[Any] | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> WorkflowActionsBuilder:
        """The cancel action: `ctx.workflow.cancel()` marks it canceled; teardown follows."""
        return self._with("cancel", schema, callback, policy)

    def _with(
        self,
        name: str,
        schema: object,
        callback: ActionCallback | None,
        policy: AccessPolicy | None,
    ) -> WorkflowActionsBuilder:
        action = _action(name, schema, callback, policy)
        return replace(self, actions=(*self.actions, (name, action)))

    def get(self, name: str) -> Action:
        return dict(self.actions).get(name, DEFAULT_ACTION)


def _action(
    name: str, schema: object, callback: ActionCallback | None, policy: AccessPolicy | None
) -> Action:
    if policy is not None and not callable(policy):
        raise TypeError(
            f"the {name} action's policy is a callable `(ctx) -> bool` such as "
            f"tq.require_scope(...), got {policy!r}"
        )
    if callback is None and policy is None:
        raise TypeError(
            f"the {name} action needs a callback `(ctx, payload) -> None`, a policy=, or both"
        )
    if callback is not None and not callable(callback):
        raise TypeError(
            f"the {name} action needs a callback `(ctx, payload) -> None`, got {callback!r}"
        )
    return Action(schema, callback, policy)
