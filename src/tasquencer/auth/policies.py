"""Access policy helpers: `tq.require_scope(...)` and friends, and their combinations.

A policy is any `(ctx: tq.AuthorizationContext) -> bool`. The helpers below also say which
scopes they name, so `app.register` refuses a definition whose policies name undeclared scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tasquencer.contexts import AccessPolicy, AuthorizationContext
from tasquencer.errors import describe


class ScopePolicy:
    """Allows a signed-in user holding one (`any`) or every (`all`) of the scopes."""

    __slots__ = ("mode", "required_scopes")

    def __init__(self, scopes: Sequence[str], mode: Literal["any", "all"]) -> None:
        if not scopes or not all(isinstance(s, str) and s for s in scopes):
            raise ValueError(f"a scope policy names one or more scopes, got {describe(scopes)}")
        self.required_scopes = tuple(dict.fromkeys(scopes))
        self.mode = mode

    def __call__(self, ctx: AuthorizationContext) -> bool:
        if ctx.user is None:
            return False
        held = ctx.scopes
        if self.mode == "all":
            return all(s in held for s in self.required_scopes)
        return any(s in held for s in self.required_scopes)

    def __repr__(self) -> str:
        return f"<require {self.mode} of {', '.join(self.required_scopes)}>"


class CombinedPolicy:
    """Allows when any (`any`) or every (`all`) of its policies allows, asked in order."""

    __slots__ = ("mode", "policies")

    def __init__(self, policies: Sequence[AccessPolicy], mode: Literal["any", "all"]) -> None:
        if not policies or not all(callable(p) for p in policies):
            raise TypeError(f"combine one or more policies `(ctx) -> bool`, got {policies!r}")
        self.policies = tuple(policies)
        self.mode = mode

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """The scopes the combined helpers name (for the check at registration)."""
        named: list[str] = []
        for policy in self.policies:
            named.extend(getattr(policy, "required_scopes", ()))
        return tuple(dict.fromkeys(named))

    def __call__(self, ctx: AuthorizationContext) -> bool:
        if self.mode == "any":
            return any(_verdict(p, ctx) for p in self.policies)
        return all(_verdict(p, ctx) for p in self.policies)


def require_scope(scope: str) -> ScopePolicy:
    """Allow a signed-in user who holds `scope`."""
    return ScopePolicy([scope], "any")


def require_any_scope(*scopes: str) -> ScopePolicy:
    """Allow a signed-in user who holds at least one of `scopes`."""
    return ScopePolicy(scopes, "any")


def require_all_scopes(*scopes: str) -> ScopePolicy:
    """Allow a signed-in user who holds every one of `scopes`."""
    return ScopePolicy(scopes, "all")


def any_policy(*policies: AccessPolicy) -> CombinedPolicy:
    """Allow when one of the policies allows (the first that does ends the asking)."""
    return CombinedPolicy(policies, "any")


def all_policies(*policies: AccessPolicy) -> CombinedPolicy:
    """Allow when every policy allows (the first that refuses ends the asking)."""
    return CombinedPolicy(policies, "all")


def _verdict(policy: AccessPolicy, ctx: AuthorizationContext) -> bool:
    from tasquencer.auth.authorization import checked_verdict

    return checked_verdict(policy, policy(ctx))
