"""The SQL of `app.auth`: groups, roles, memberships and role assignments."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer.store.sql import Statement
from tasquencer.store.tables import (
    auth_group_roles,
    auth_groups,
    auth_memberships,
    auth_roles,
    auth_user_roles,
)


def _select_by_name(table: sa.Table) -> Statement:
    return Statement(sa.select(*table.columns).where(table.c.name == p("name")))


def _insert(table: sa.Table) -> Statement:
    return Statement(sa.insert(table).values({c.name: p(c.name) for c in table.columns}))


def _delete(table: sa.Table, *keys: str) -> Statement:
    return Statement(sa.delete(table).where(*(table.c[k] == p(k) for k in keys)))


SELECT_GROUP = _select_by_name(auth_groups)
SELECT_ROLE = _select_by_name(auth_roles)
SELECT_GROUPS = Statement(sa.select(*auth_groups.columns).order_by(auth_groups.c.name))
SELECT_ROLES = Statement(sa.select(*auth_roles.columns).order_by(auth_roles.c.name))
INSERT_GROUP = _insert(auth_groups)
INSERT_ROLE = _insert(auth_roles)
INSERT_MEMBERSHIP = _insert(auth_memberships)
INSERT_GROUP_ROLE = _insert(auth_group_roles)
INSERT_USER_ROLE = _insert(auth_user_roles)
UPDATE_GROUP = Statement(
    sa.update(auth_groups)
    .where(auth_groups.c.id == p("id"))
    .values(
        name=p("name"),
        description=p("description"),
        is_active=p("is_active"),
        metadata=p("metadata"),
    )
)
UPDATE_ROLE = Statement(
    sa.update(auth_roles)
    .where(auth_roles.c.id == p("id"))
    .values(
        name=p("name"),
        description=p("description"),
        scopes=p("scopes"),
        is_active=p("is_active"),
        metadata=p("metadata"),
    )
)
DELETE_GROUP = _delete(auth_groups, "id")
DELETE_ROLE = _delete(auth_roles, "id")
DELETE_MEMBERSHIP = _delete(auth_memberships, "user_id", "group_id")
DELETE_MEMBERSHIPS_OF_GROUP = _delete(auth_memberships, "group_id")
DELETE_GROUP_ROLE = _delete(auth_group_roles, "group_id", "role_id")
DELETE_GROUP_ROLES_OF_GROUP = _delete(auth_group_roles, "group_id")
DELETE_GROUP_ROLES_OF_ROLE = _delete(auth_group_roles, "role_id")
DELETE_USER_ROLE = _delete(auth_user_roles, "user_id", "role_id")
DELETE_USER_ROLES_OF_ROLE = _delete(auth_user_roles, "role_id")
SELECT_MEMBERSHIP = Statement(
    sa.select(auth_memberships.c.user_id).where(
        auth_memberships.c.user_id == p("user_id"), auth_memberships.c.group_id == p("group_id")
    )
)
SELECT_MEMBERSHIPS_OF_USER = Statement(
    sa.select(
        auth_memberships.c.user_id,
        auth_groups.c.name,
        auth_memberships.c.joined_at,
        auth_memberships.c.expires_at,
    )
    .join_from(auth_memberships, auth_groups, auth_groups.c.id == auth_memberships.c.group_id)
    .where(auth_memberships.c.user_id == p("user_id"))
    .order_by(auth_groups.c.name)
)
SELECT_MEMBERSHIPS_OF_GROUP = Statement(
    sa.select(
        auth_memberships.c.user_id,
        auth_groups.c.name,
        auth_memberships.c.joined_at,
        auth_memberships.c.expires_at,
    )
    .join_from(auth_memberships, auth_groups, auth_groups.c.id == auth_memberships.c.group_id)
    .where(auth_memberships.c.group_id == p("group_id"))
    .order_by(auth_memberships.c.user_id)
)
SELECT_GROUP_ROLE = Statement(
    sa.select(auth_group_roles.c.group_id).where(
        auth_group_roles.c.group_id == p("group_id"), auth_group_roles.c.role_id == p("role_id")
    )
)
SELECT_USER_ROLE = Statement(
    sa.select(auth_user_roles.c.user_id).where(
        auth_user_roles.c.user_id == p("user_id"), auth_user_roles.c.role_id == p("role_id")
    )
)
SELECT_USER_ROLES_OF_USER = Statement(
    sa.select(auth_roles.c.name)
    .join_from(auth_user_roles, auth_roles, auth_roles.c.id == auth_user_roles.c.role_id)
    .where(auth_user_roles.c.user_id == p("user_id"))
)
SELECT_ASSIGNMENTS_OF_ROLE = Statement(
    sa.union_all(
        sa.select(
            auth_user_roles.c.user_id,
            sa.null().label("group_name"),
            auth_user_roles.c.assigned_at,
            auth_user_roles.c.assigned_by,
            auth_user_roles.c.expires_at,
        ).where(auth_user_roles.c.role_id == p("role_id")),
        sa.select(
            sa.null(),
            auth_groups.c.name,
            auth_group_roles.c.assigned_at,
            auth_group_roles.c.assigned_by,
            sa.null(),
        )
        .join_from(auth_group_roles, auth_groups, auth_groups.c.id == auth_group_roles.c.group_id)
        .where(auth_group_roles.c.role_id == p("role_id")),
    )
)
