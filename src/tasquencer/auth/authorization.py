"""Evaluating an action's access policy for an external call, before anything changes."""

from __future__ import annotations

from collections.abc import Callable

from tasquencer.auth.resolution import NOBODY, Access, access_of
from tasquencer.contexts import AccessPolicy, Caller, WorkflowInfo, WorkItemInfo
from tasquencer.engine.contexts import BoundContext
from tasquencer.engine.execution import Execution
from tasquencer.errors import (
    AuthenticationRequiredError,
    ForbiddenError,
    InvalidPolicyResultError,
    describe,
)


class CallAccess:
    """The caller's access, resolved on first use and then kept for the rest of the call."""

    __slots__ = ("_access", "caller", "ex")

    def __init__(self, ex: Execution, caller: Caller) -> None:
        self.ex = ex
        self.caller = caller
        self._access: Access | None = None

    def get(self) -> Access:
        if self._access is None:
            user = self.caller.user
            self._access = (
                NOBODY if user is None else access_of(self.ex.uow.db, user.id, self.ex.now())
            )
        return self._access


class WorkItemRef:
    """The work item a policy is asked about (`ctx.work_item`)."""

    __slots__ = ("id", "name")

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name


class AuthorizationCtx(BoundContext):
    """`ctx` of an access policy (`tq.AuthorizationContext`)."""

    __slots__ = ("_access", "action", "claimed_by", "payload", "work_item", "workflow")

    def __init__(
        self,
        access: CallAccess,
        action: str,
        payload: object,
        work_item: WorkItemInfo | None,
        workflow: WorkflowInfo | None,
        claimed_by: str | None,
    ) -> None:
        super().__init__(access.ex.services, access.caller)
        self._access = access
        self.action = action
        self.payload = payload
        self.work_item = work_item
        self.workflow = workflow
        self.claimed_by = claimed_by

    @property
    def scopes(self) -> frozenset[str]:
        return self._access.get().scopes

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self._access.get().groups)

    def has_scope(self, scope: str) -> bool:
        return scope in self._access.get().scopes


def authorize(
    policy: AccessPolicy, ctx: AuthorizationCtx, describe_call: Callable[[], str]
) -> None:
    """Raise unless `policy` allows the call `ctx` describes (`describe_call()`: "the start
    action of work item 'review' (id)", for the error)."""
    if checked_verdict(policy, policy(ctx)):
        return
    what = describe_call()
    user = ctx.caller.user
    if user is None:
        raise AuthenticationRequiredError(
            f"{what} requires a signed-in user: the call names none (pass user=...)"
        )
    raise ForbiddenError(f"{what} is not allowed for user {user.id!r} (policy {policy!r})")


def checked_verdict(policy: object, verdict: object) -> bool:
    if not isinstance(verdict, bool):
        raise InvalidPolicyResultError(
            f"the access policy {policy!r} returned {describe(verdict)}; a policy returns "
            "True (allow) or False (refuse)"
        )
    return verdict
