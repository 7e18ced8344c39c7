"""Reading and writing `app.auth`'s rows as records, inside one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasquencer.auth import statements as st
from tasquencer.errors import AlreadyExistsError, GroupNotFoundError, RoleNotFoundError, describe
from tasquencer.records import Group, Membership, Role, RoleAssignment
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.sql import Statement


def group_row(tx: Transaction, name: str) -> tuple[Any, ...] | None:
    return tx.db.one(st.SELECT_GROUP, {"name": name})


def role_row(tx: Transaction, name: str) -> tuple[Any, ...] | None:
    return tx.db.one(st.SELECT_ROLE, {"name": name})


def group_from(tx: Transaction, row: tuple[Any, ...]) -> Group:
    d = tx.db.dialect
    return Group(row[0], row[1], row[2], bool(row[3]), d.json_out(row[4]), when(d.time_out(row[5])))


def role_from(tx: Transaction, row: tuple[Any, ...]) -> Role:
    d = tx.db.dialect
    return Role(
        row[0],
        row[1],
        row[2],
        tuple(d.json_out(row[3])),
        bool(row[4]),
        d.json_out(row[5]),
        when(d.time_out(row[6])),
    )


def all_groups(tx: Transaction) -> list[Group]:
    return [group_from(tx, r) for r in tx.db.all(st.SELECT_GROUPS, {})]


def all_roles(tx: Transaction) -> list[Role]:
    return [role_from(tx, r) for r in tx.db.all(st.SELECT_ROLES, {})]


def members_of(tx: Transaction, group_id: str) -> list[Membership]:
    """A group's memberships, expired ones included."""
    return memberships(tx, st.SELECT_MEMBERSHIPS_OF_GROUP, group_id, key="group_id")


def group_or_none(tx: Transaction, row: tuple[Any, ...] | None) -> Group | None:
    return None if row is None else group_from(tx, row)


def role_or_none(tx: Transaction, row: tuple[Any, ...] | None) -> Role | None:
    return None if row is None else role_from(tx, row)


def require_group(tx: Transaction, name: str) -> Group:
    row = group_row(tx, name)
    if row is None:
        raise GroupNotFoundError(f"there is no group named {describe(name)}")
    return group_from(tx, row)


def require_role(tx: Transaction, name: str) -> Role:
    row = role_row(tx, name)
    if row is None:
        raise RoleNotFoundError(f"there is no role named {describe(name)}")
    return role_from(tx, row)


def memberships(
    tx: Transaction, statement: Statement, value: str, *, key: str = "user_id"
) -> list[Membership]:
    d = tx.db.dialect
    return [
        Membership(user, group, when(d.time_out(joined)), d.time_out(expires))
        for user, group, joined, expires in tx.db.all(statement, {key: value})
    ]


def add_member(
    tx: Transaction, group: Group, user_id: str, expires_at: datetime | None
) -> Membership:
    params = {"user_id": user_id, "group_id": group.id}
    if tx.db.one(st.SELECT_MEMBERSHIP, params) is not None:
        raise AlreadyExistsError(f"user {user_id!r} is already a member of {group.name!r}")
    d = tx.db.dialect
    tx.db.run(
        st.INSERT_MEMBERSHIP,
        {**params, "joined_at": d.time_in(tx.now()), "expires_at": d.time_in(expires_at)},
    )
    return Membership(user_id, group.name, tx.now(), expires_at)


def assign_to_group(
    tx: Transaction, role: Role, group: Group, assigned_by: str | None
) -> RoleAssignment:
    params = {"group_id": group.id, "role_id": role.id}
    if tx.db.one(st.SELECT_GROUP_ROLE, params) is not None:
        raise AlreadyExistsError(f"group {group.name!r} already holds role {role.name!r}")
    d = tx.db.dialect
    tx.db.run(
        st.INSERT_GROUP_ROLE,
        {**params, "assigned_at": d.time_in(tx.now()), "assigned_by": assigned_by},
    )
    return RoleAssignment(role.name, None, group.name, tx.now(), assigned_by, None)


def assign_to_user(
    tx: Transaction,
    role: Role,
    user_id: str,
    expires_at: datetime | None,
    assigned_by: str | None,
) -> RoleAssignment:
    params = {"user_id": user_id, "role_id": role.id}
    if tx.db.one(st.SELECT_USER_ROLE, params) is not None:
        raise AlreadyExistsError(f"user {user_id!r} already holds role {role.name!r}")
    d = tx.db.dialect
    tx.db.run(
        st.INSERT_USER_ROLE,
        {
            **params,
            "assigned_at": d.time_in(tx.now()),
            "assigned_by": assigned_by,
            "expires_at": d.time_in(expires_at),
        },
    )
    return RoleAssignment(role.name, user_id, None, tx.now(), assigned_by, expires_at)


def when(value: datetime | None) -> datetime:
    """A time read from a NOT NULL column."""
    assert value is not None
    return value
