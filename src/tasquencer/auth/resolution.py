"""Who a user is to the app at a given instant: their roles, scopes and groups (one query).

roles = the user's unexpired direct assignments, plus the roles of every active group they are
an unexpired member of; only active roles count. scopes = the union of those roles' scopes.
An inactive group gives its members nothing: no roles, no group offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer.store.sql import Db, Statement
from tasquencer.store.tables import (
    auth_group_roles,
    auth_groups,
    auth_memberships,
    auth_roles,
    auth_user_roles,
)


@dataclass(frozen=True, slots=True)
class Access:
    """A user's roles (names), scopes and groups (name -> id) right now."""

    roles: frozenset[str]
    scopes: frozenset[str]
    groups: dict[str, str]


NOBODY = Access(frozenset(), frozenset(), {})


def _unexpired(column: sa.ColumnElement[datetime]) -> sa.ColumnElement[bool]:
    return sa.or_(column.is_(None), column > p("now"))


_MEMBER_OF_ACTIVE = sa.and_(
    auth_memberships.c.user_id == p("user_id"),
    _unexpired(auth_memberships.c.expires_at),
    auth_groups.c.is_active.is_(sa.true()),
)
_ACTIVE_ROLE = auth_roles.c.is_active.is_(sa.true())
# kind 0: an active role (name, scopes), held directly or through a group (a role may come
# twice); kind 1: an active group the user is a member of (name, id). Joins, not IN
# (subquery): this runs for every external call that asks a policy or claims.
SELECT_ACCESS = Statement(
    sa.union_all(
        sa.select(
            sa.literal_column("0").label("kind"),
            auth_roles.c.name,
            auth_roles.c.scopes,
            sa.null().label("group_id"),
        )
        .join_from(auth_user_roles, auth_roles, auth_roles.c.id == auth_user_roles.c.role_id)
        .where(
            auth_user_roles.c.user_id == p("user_id"),
            _unexpired(auth_user_roles.c.expires_at),
            _ACTIVE_ROLE,
        ),
        sa.select(sa.literal_column("0"), auth_roles.c.name, auth_roles.c.scopes, sa.null())
        .join_from(auth_memberships, auth_groups, auth_groups.c.id == auth_memberships.c.group_id)
        .join(auth_group_roles, auth_group_roles.c.group_id == auth_memberships.c.group_id)
        .join(auth_roles, auth_roles.c.id == auth_group_roles.c.role_id)
        .where(_MEMBER_OF_ACTIVE, _ACTIVE_ROLE),
        sa.select(sa.literal_column("1"), auth_groups.c.name, sa.null(), auth_groups.c.id)
        .join_from(auth_memberships, auth_groups, auth_groups.c.id == auth_memberships.c.group_id)
        .where(_MEMBER_OF_ACTIVE),
    )
)


def access_of(db: Db, user_id: str, now: datetime) -> Access:
    roles: set[str] = set()
    scopes: set[str] = set()
    groups: dict[str, str] = {}
    for kind, name, granted, group_id in db.all(
        SELECT_ACCESS, {"user_id": user_id, "now": db.dialect.time_in(now)}
    ):
        if kind == 0:
            roles.add(name)
            scopes.update(db.dialect.json_out(granted))
        else:
            groups[name] = group_id
    return Access(frozenset(roles), frozenset(scopes), groups)
