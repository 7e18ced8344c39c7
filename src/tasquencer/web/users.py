"""Who is calling over HTTP: the request itself is what the app's user provider reads
(`tq.App(..., auth=tq.Auth(get_user=fn))`, `fn(request)` returns a `tq.User` or None).

An app without a provider serves anonymous external callers: actions guarded by a policy
answer 401, the others run as they would for any external call.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

import tasquencer as tq


@dataclass(frozen=True, slots=True)
class Me:
    """The signed-in user, as the provider described them."""

    id: str
    name: str | None
    is_agent: bool


def source(app: tq.App, request: Request) -> Request | None:
    """What to pass as `user=`: the request when the app reads users from it."""
    return request if app.auth_config.get_user is not None else None


def current(app: tq.App, request: Request) -> tq.User | None:
    """The user behind `request` (None: nobody is signed in)."""
    return app.auth_config.resolve_user(source(app, request))


def signed_in(app: tq.App, request: Request) -> tq.User:
    user = current(app, request)
    if user is None:
        raise tq.AuthenticationRequiredError(
            "nobody is signed in: this route answers for the calling user"
        )
    return user


def me(user: tq.User) -> Me:
    return Me(user.id, user.name, user.is_agent)
