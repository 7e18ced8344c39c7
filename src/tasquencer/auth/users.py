"""`tq.Auth`: how an app learns who is calling, and the scopes it declares.

`get_user(source)` turns whatever the caller passes as `user=` (an HTTP request, a CLI flag, a
test's value) into a `tq.User`, or None when nobody is signed in. A `tq.User` given as `user=`
is taken as is, with or without a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasquencer.auth.scopes import ScopeModule, ScopeRegistry
from tasquencer.contexts import User
from tasquencer.errors import describe

# The parameter is whatever the app passes as `user=`, so its type is the app's to choose.
UserProvider = Callable[[Any], "User | None"]


@dataclass(frozen=True)
class Auth:
    """`tq.App(url, auth=tq.Auth(get_user=fn, scopes=[module, ...]))`."""

    get_user: UserProvider | None = None
    scopes: Sequence[ScopeModule] = ()
    registry: ScopeRegistry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.get_user is not None and not callable(self.get_user):
            raise TypeError(
                f"tq.Auth(get_user=...) takes a function, got {describe(self.get_user)}"
            )
        object.__setattr__(self, "registry", ScopeRegistry(self.scopes))

    def resolve_user(self, source: object) -> User | None:
        """The user behind `source` (None: nobody)."""
        if source is None or isinstance(source, User):
            return source
        if self.get_user is None:
            raise TypeError(
                f"user= was given {type(source).__name__} {describe(source)}, but the app has no "
                "user provider: pass a tq.User, or configure tq.App(..., "
                "auth=tq.Auth(get_user=fn)) to read users from what you pass"
            )
        user = self.get_user(source)
        if user is not None and not isinstance(user, User):
            raise TypeError(
                f"the user provider returned {describe(user)}; it must return a tq.User or None"
            )
        return user
