"""`app.auth`: groups, roles with scopes, memberships and role assignments, and what a user
holds. Every method is one transaction; bad input raises before anything changes.

Groups and roles are named by their (unique) names; users by their opaque ids (the app's user
provider owns users). Deleting a group or a role deletes its memberships and assignments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import bindparam as p

from tasquencer import arguments
from tasquencer.auth.resolution import access_of
from tasquencer.auth.scopes import ScopeRegistry
from tasquencer.errors import (
    AlreadyExistsError,
    AssignmentNotFoundError,
    GroupNotFoundError,
    RoleNotFoundError,
    SerializationError,
    describe,
)
from tasquencer.records import Group, Membership, Role, RoleAssignment, Scope
from tasquencer.runtime.runner import Runner
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.sql import Statement
from tasquencer.store.tables import (
    MAX_NAME_LENGTH,
    auth_group_roles,
    auth_groups,
    auth_memberships,
    auth_roles,
    auth_user_roles,
)

T = TypeVar("T")
_KEEP: Any = object()  # "leave this field as it is" in updates


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


class Directory:
    """`app.auth`: manage groups, roles, memberships and role assignments; resolve users."""

    def __init__(self, runner: Runner, registry: ScopeRegistry) -> None:
        self._runner = runner
        self._registry = registry

    # --- scopes ----------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        """Every scope the app's scope modules declare, by name."""
        return self._registry.all()

    # --- groups ----------------------------------------------------------------------------

    def create_group(
        self,
        name: str,
        *,
        description: str = "",
        is_active: bool = True,
        metadata: object = None,
    ) -> Group:
        _name(name, "group name")
        _description(description)
        _flag(is_active, "is_active")
        _json(metadata, "a group's metadata")

        def create(tx: Transaction) -> Group:
            if _group_row(tx, name) is not None:
                raise AlreadyExistsError(f"there is already a group named {name!r}")
            d = tx.db.dialect
            row = {
                "id": tx.new_id(),
                "name": name,
                "description": description,
                "is_active": d.bool_in(is_active),
                "metadata": d.json_in(metadata),
                "created_at": d.time_in(tx.now()),
            }
            tx.db.run(INSERT_GROUP, row)
            return Group(row["id"], name, description, is_active, metadata, tx.now())

        return self._write(create)

    def get_group(self, name: str) -> Group | None:
        _name(name, "group name")
        return self._read(lambda tx: _group_of(tx, _group_row(tx, name)))

    def list_groups(self) -> list[Group]:
        return self._read(lambda tx: [_group(tx, r) for r in tx.db.all(SELECT_GROUPS, {})])

    def update_group(
        self,
        name: str,
        *,
        new_name: str = _KEEP,
        description: str = _KEEP,
        is_active: bool = _KEEP,
        metadata: object = _KEEP,
    ) -> Group:
        """Rename a group or change its description, active flag or metadata."""
        _name(name, "group name")
        if new_name is not _KEEP:
            _name(new_name, "new_name")
        if description is not _KEEP:
            _description(description)
        if is_active is not _KEEP:
            _flag(is_active, "is_active")
        if metadata is not _KEEP:
            _json(metadata, "a group's metadata")

        def update(tx: Transaction) -> Group:
            group = _require_group(tx, name)
            if new_name is not _KEEP and new_name != name and _group_row(tx, new_name):
                raise AlreadyExistsError(f"there is already a group named {new_name!r}")
            changed = Group(
                group.id,
                group.name if new_name is _KEEP else new_name,
                group.description if description is _KEEP else description,
                group.is_active if is_active is _KEEP else is_active,
                group.metadata if metadata is _KEEP else metadata,
                group.created_at,
            )
            d = tx.db.dialect
            tx.db.run(
                UPDATE_GROUP,
                {
                    "id": changed.id,
                    "name": changed.name,
                    "description": changed.description,
                    "is_active": d.bool_in(changed.is_active),
                    "metadata": d.json_in(changed.metadata),
                },
            )
            return changed

        return self._write(update)

    def delete_group(self, name: str) -> None:
        """Delete a group with its memberships and role assignments."""
        _name(name, "group name")

        def delete(tx: Transaction) -> None:
            group = _require_group(tx, name)
            tx.db.run(DELETE_MEMBERSHIPS_OF_GROUP, {"group_id": group.id})
            tx.db.run(DELETE_GROUP_ROLES_OF_GROUP, {"group_id": group.id})
            tx.db.run(DELETE_GROUP, {"id": group.id})

        self._write(delete)

    # --- roles -----------------------------------------------------------------------------

    def create_role(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        description: str = "",
        is_active: bool = True,
        metadata: object = None,
    ) -> Role:
        """A role granting `scopes`, each declared by a scope module of the app."""
        _name(name, "role name")
        granted = self._scopes(scopes, f"role {name!r}")
        _description(description)
        _flag(is_active, "is_active")
        _json(metadata, "a role's metadata")

        def create(tx: Transaction) -> Role:
            if _role_row(tx, name) is not None:
                raise AlreadyExistsError(f"there is already a role named {name!r}")
            d = tx.db.dialect
            row = {
                "id": tx.new_id(),
                "name": name,
                "description": description,
                "scopes": d.json_in(list(granted)),
                "is_active": d.bool_in(is_active),
                "metadata": d.json_in(metadata),
                "created_at": d.time_in(tx.now()),
            }
            tx.db.run(INSERT_ROLE, row)
            return Role(row["id"], name, description, granted, is_active, metadata, tx.now())

        return self._write(create)

    def get_role(self, name: str) -> Role | None:
        _name(name, "role name")
        return self._read(lambda tx: _role_of(tx, _role_row(tx, name)))

    def list_roles(self) -> list[Role]:
        return self._read(lambda tx: [_role(tx, r) for r in tx.db.all(SELECT_ROLES, {})])

    def update_role(
        self,
        name: str,
        *,
        new_name: str = _KEEP,
        scopes: Iterable[str] = _KEEP,
        description: str = _KEEP,
        is_active: bool = _KEEP,
        metadata: object = _KEEP,
    ) -> Role:
        """Rename a role or change its scopes, description, active flag or metadata."""
        _name(name, "role name")
        if new_name is not _KEEP:
            _name(new_name, "new_name")
        granted = None if scopes is _KEEP else self._scopes(scopes, f"role {name!r}")
        if description is not _KEEP:
            _description(description)
        if is_active is not _KEEP:
            _flag(is_active, "is_active")
        if metadata is not _KEEP:
            _json(metadata, "a role's metadata")

        def update(tx: Transaction) -> Role:
            role = _require_role(tx, name)
            if new_name is not _KEEP and new_name != name and _role_row(tx, new_name):
                raise AlreadyExistsError(f"there is already a role named {new_name!r}")
            changed = Role(
                role.id,
                role.name if new_name is _KEEP else new_name,
                role.description if description is _KEEP else description,
                role.scopes if granted is None else granted,
                role.is_active if is_active is _KEEP else is_active,
                role.metadata if metadata is _KEEP else metadata,
                role.created_at,
            )
            d = tx.db.dialect
            tx.db.run(
                UPDATE_ROLE,
                {
                    "id": changed.id,
                    "name": changed.name,
                    "description": changed.description,
                    "scopes": d.json_in(list(changed.scopes)),
                    "is_active": d.bool_in(changed.is_active),
                    "metadata": d.json_in(changed.metadata),
                },
            )
            return changed

        return self._write(update)

    def delete_role(self, name: str) -> None:
        """Delete a role with its assignments to groups and users."""
        _name(name, "role name")

        def delete(tx: Transaction) -> None:
            role = _require_role(tx, name)
            tx.db.run(DELETE_GROUP_ROLES_OF_ROLE, {"role_id": role.id})
            tx.db.run(DELETE_USER_ROLES_OF_ROLE, {"role_id": role.id})
            tx.db.run(DELETE_ROLE, {"id": role.id})

        self._write(delete)

    # --- memberships -----------------------------------------------------------------------

    def add_member(
        self, group: str, user_id: str, *, expires_at: datetime | None = None
    ) -> Membership:
        """Make a user a member of a group, until `expires_at` if given."""
        _name(group, "group name")
        _name(user_id, "user_id")
        _time(expires_at, "expires_at")

        def add(tx: Transaction) -> Membership:
            found = _require_group(tx, group)
            return _add_member(tx, found, user_id, expires_at)

        return self._write(add)

    def remove_member(self, group: str, user_id: str) -> None:
        _name(group, "group name")
        _name(user_id, "user_id")

        def remove(tx: Transaction) -> None:
            found = _require_group(tx, group)
            if tx.db.run(DELETE_MEMBERSHIP, {"user_id": user_id, "group_id": found.id}) == 0:
                raise AssignmentNotFoundError(f"user {user_id!r} is not a member of {group!r}")

        self._write(remove)

    def set_user_groups(self, user_id: str, groups: Iterable[str]) -> None:
        """Make the user a member of exactly these groups (memberships kept, added, removed)."""
        _name(user_id, "user_id")
        wanted = list(dict.fromkeys(groups))
        for name in wanted:
            _name(name, "group name")

        def replace(tx: Transaction) -> None:
            targets = {name: _require_group(tx, name) for name in wanted}
            current = {m.group for m in _memberships(tx, SELECT_MEMBERSHIPS_OF_USER, user_id)}
            for name in current - set(wanted):
                group_id = _require_group(tx, name).id
                tx.db.run(DELETE_MEMBERSHIP, {"user_id": user_id, "group_id": group_id})
            for name in wanted:
                if name not in current:
                    _add_member(tx, targets[name], user_id, None)

        self._write(replace)

    def memberships(
        self, *, group: str | None = None, user_id: str | None = None
    ) -> list[Membership]:
        """The memberships of a group or of a user, expired ones included."""
        if (group is None) == (user_id is None):
            raise TypeError("memberships() takes group= or user_id=, exactly one")

        def read(tx: Transaction) -> list[Membership]:
            if group is not None:
                _name(group, "group name")
                group_id = _require_group(tx, group).id
                return _memberships(tx, SELECT_MEMBERSHIPS_OF_GROUP, group_id, key="group_id")
            assert user_id is not None
            _name(user_id, "user_id")
            return _memberships(tx, SELECT_MEMBERSHIPS_OF_USER, user_id)

        return self._read(read)

    # --- role assignments ------------------------------------------------------------------

    def assign_role(
        self,
        role: str,
        *,
        user_id: str | None = None,
        group: str | None = None,
        expires_at: datetime | None = None,
        assigned_by: str | None = None,
    ) -> RoleAssignment:
        """Give a role to a user directly (until `expires_at` if given) or to a group."""
        _name(role, "role name")
        _one_holder(user_id, group)
        _time(expires_at, "expires_at")
        if assigned_by is not None:
            _name(assigned_by, "assigned_by")
        if group is not None and expires_at is not None:
            raise ValueError("a group's role does not expire; expires_at is for users' roles")

        def assign(tx: Transaction) -> RoleAssignment:
            found = _require_role(tx, role)
            if group is not None:
                holder = _require_group(tx, group)
                return _assign_to_group(tx, found, holder, assigned_by)
            assert user_id is not None
            return _assign_to_user(tx, found, user_id, expires_at, assigned_by)

        return self._write(assign)

    def unassign_role(
        self, role: str, *, user_id: str | None = None, group: str | None = None
    ) -> None:
        _name(role, "role name")
        _one_holder(user_id, group)

        def unassign(tx: Transaction) -> None:
            found = _require_role(tx, role)
            if group is not None:
                holder = _require_group(tx, group)
                deleted = tx.db.run(DELETE_GROUP_ROLE, {"group_id": holder.id, "role_id": found.id})
                who = f"group {group!r}"
            else:
                deleted = tx.db.run(DELETE_USER_ROLE, {"user_id": user_id, "role_id": found.id})
                who = f"user {user_id!r}"
            if deleted == 0:
                raise AssignmentNotFoundError(f"{who} does not hold role {role!r}")

        self._write(unassign)

    def set_user_roles(self, user_id: str, roles: Iterable[str]) -> None:
        """Give the user exactly these direct roles (assignments kept, added, removed)."""
        _name(user_id, "user_id")
        wanted = list(dict.fromkeys(roles))
        for name in wanted:
            _name(name, "role name")

        def replace(tx: Transaction) -> None:
            targets = {name: _require_role(tx, name) for name in wanted}
            current = {r[0] for r in tx.db.all(SELECT_USER_ROLES_OF_USER, {"user_id": user_id})}
            for name in current - set(wanted):
                role_id = _require_role(tx, name).id
                tx.db.run(DELETE_USER_ROLE, {"user_id": user_id, "role_id": role_id})
            for name in wanted:
                if name not in current:
                    _assign_to_user(tx, targets[name], user_id, None, None)

        self._write(replace)

    def role_assignments(self, role: str) -> list[RoleAssignment]:
        """Who holds a role: users directly (expired ones included) and groups."""
        _name(role, "role name")

        def read(tx: Transaction) -> list[RoleAssignment]:
            found = _require_role(tx, role)
            d = tx.db.dialect
            rows = tx.db.all(SELECT_ASSIGNMENTS_OF_ROLE, {"role_id": found.id})
            assignments = [
                RoleAssignment(role, u, g, _when(d.time_out(at)), by, d.time_out(expires))
                for u, g, at, by, expires in rows
            ]
            return sorted(assignments, key=lambda a: (a.group or "", a.user_id or ""))

        return self._read(read)

    # --- what users hold -------------------------------------------------------------------

    def roles_of(self, user_id: str) -> list[Role]:
        """The active roles a user holds now, directly or through their groups."""
        _name(user_id, "user_id")

        def read(tx: Transaction) -> list[Role]:
            names = access_of(tx.db, user_id, tx.now()).roles
            return [
                r
                for r in (_role(tx, row) for row in tx.db.all(SELECT_ROLES, {}))
                if r.name in names
            ]

        return self._read(read)

    def scopes_of(self, user_id: str) -> frozenset[str]:
        """The scopes a user holds now."""
        _name(user_id, "user_id")
        return self._read(lambda tx: access_of(tx.db, user_id, tx.now()).scopes)

    def groups_of(self, user_id: str) -> list[Group]:
        """The active groups a user is an unexpired member of."""
        _name(user_id, "user_id")

        def read(tx: Transaction) -> list[Group]:
            names = access_of(tx.db, user_id, tx.now()).groups
            return [
                g for g in (_group(tx, r) for r in tx.db.all(SELECT_GROUPS, {})) if g.name in names
            ]

        return self._read(read)

    def user_in_group(self, user_id: str, group: str) -> bool:
        """Whether the user is an unexpired member of the group, and the group is active."""
        _name(user_id, "user_id")
        _name(group, "group name")
        return self._read(lambda tx: group in access_of(tx.db, user_id, tx.now()).groups)

    def group_members(self, group: str) -> list[str]:
        """The users who are unexpired members of a group now."""
        _name(group, "group name")

        def read(tx: Transaction) -> list[str]:
            group_id = _require_group(tx, group).id
            now = tx.now()
            members = _memberships(tx, SELECT_MEMBERSHIPS_OF_GROUP, group_id, key="group_id")
            return [m.user_id for m in members if m.expires_at is None or m.expires_at > now]

        return self._read(read)

    def users_with_scope(self, scope: str) -> list[str]:
        """The users who hold `scope` now, directly or through a group."""
        self._scopes([scope], "users_with_scope")

        def read(tx: Transaction) -> list[str]:
            now = tx.now()
            users: set[str] = set()
            for row in tx.db.all(SELECT_ROLES, {}):
                role = _role(tx, row)
                if not role.is_active or scope not in role.scopes:
                    continue
                for held in self._assignments(tx, role):
                    if held.user_id is not None:
                        if held.expires_at is None or held.expires_at > now:
                            users.add(held.user_id)
                    elif held.group is not None:
                        group = _require_group(tx, held.group)
                        if group.is_active:
                            members = _memberships(
                                tx, SELECT_MEMBERSHIPS_OF_GROUP, group.id, key="group_id"
                            )
                            users.update(
                                m.user_id
                                for m in members
                                if m.expires_at is None or m.expires_at > now
                            )
            return sorted(users)

        return self._read(read)

    # --- running ---------------------------------------------------------------------------

    def _assignments(self, tx: Transaction, role: Role) -> list[RoleAssignment]:
        d = tx.db.dialect
        return [
            RoleAssignment(role.name, u, g, _when(d.time_out(at)), by, d.time_out(expires))
            for u, g, at, by, expires in tx.db.all(SELECT_ASSIGNMENTS_OF_ROLE, {"role_id": role.id})
        ]

    def _scopes(self, scopes: Iterable[str], where: str) -> tuple[str, ...]:
        if isinstance(scopes, str) or not isinstance(scopes, Iterable):
            raise TypeError(f"{where}: scopes are a list of scope names, got {describe(scopes)}")
        return self._registry.require(scopes, where)

    def _write(self, body: Callable[[Transaction], T]) -> T:
        return self._runner.run(body)

    def _read(self, body: Callable[[Transaction], T]) -> T:
        return self._runner.run(body, read_only=True)


# --- rows --------------------------------------------------------------------------------------


def _group_row(tx: Transaction, name: str) -> tuple[Any, ...] | None:
    return tx.db.one(SELECT_GROUP, {"name": name})


def _role_row(tx: Transaction, name: str) -> tuple[Any, ...] | None:
    return tx.db.one(SELECT_ROLE, {"name": name})


def _group(tx: Transaction, row: tuple[Any, ...]) -> Group:
    d = tx.db.dialect
    return Group(
        row[0], row[1], row[2], bool(row[3]), d.json_out(row[4]), _when(d.time_out(row[5]))
    )


def _role(tx: Transaction, row: tuple[Any, ...]) -> Role:
    d = tx.db.dialect
    return Role(
        row[0],
        row[1],
        row[2],
        tuple(d.json_out(row[3])),
        bool(row[4]),
        d.json_out(row[5]),
        _when(d.time_out(row[6])),
    )


def _group_of(tx: Transaction, row: tuple[Any, ...] | None) -> Group | None:
    return None if row is None else _group(tx, row)


def _role_of(tx: Transaction, row: tuple[Any, ...] | None) -> Role | None:
    return None if row is None else _role(tx, row)


def _require_group(tx: Transaction, name: str) -> Group:
    row = _group_row(tx, name)
    if row is None:
        raise GroupNotFoundError(f"there is no group named {describe(name)}")
    return _group(tx, row)


def _require_role(tx: Transaction, name: str) -> Role:
    row = _role_row(tx, name)
    if row is None:
        raise RoleNotFoundError(f"there is no role named {describe(name)}")
    return _role(tx, row)


def _memberships(
    tx: Transaction, statement: Statement, value: str, *, key: str = "user_id"
) -> list[Membership]:
    d = tx.db.dialect
    return [
        Membership(user, group, _when(d.time_out(joined)), d.time_out(expires))
        for user, group, joined, expires in tx.db.all(statement, {key: value})
    ]


def _add_member(
    tx: Transaction, group: Group, user_id: str, expires_at: datetime | None
) -> Membership:
    params = {"user_id": user_id, "group_id": group.id}
    if tx.db.one(SELECT_MEMBERSHIP, params) is not None:
        raise AlreadyExistsError(f"user {user_id!r} is already a member of {group.name!r}")
    d = tx.db.dialect
    tx.db.run(
        INSERT_MEMBERSHIP,
        {**params, "joined_at": d.time_in(tx.now()), "expires_at": d.time_in(expires_at)},
    )
    return Membership(user_id, group.name, tx.now(), expires_at)


def _assign_to_group(
    tx: Transaction, role: Role, group: Group, assigned_by: str | None
) -> RoleAssignment:
    params = {"group_id": group.id, "role_id": role.id}
    if tx.db.one(SELECT_GROUP_ROLE, params) is not None:
        raise AlreadyExistsError(f"group {group.name!r} already holds role {role.name!r}")
    d = tx.db.dialect
    tx.db.run(
        INSERT_GROUP_ROLE,
        {**params, "assigned_at": d.time_in(tx.now()), "assigned_by": assigned_by},
    )
    return RoleAssignment(role.name, None, group.name, tx.now(), assigned_by, None)


def _assign_to_user(
    tx: Transaction,
    role: Role,
    user_id: str,
    expires_at: datetime | None,
    assigned_by: str | None,
) -> RoleAssignment:
    params = {"user_id": user_id, "role_id": role.id}
    if tx.db.one(SELECT_USER_ROLE, params) is not None:
        raise AlreadyExistsError(f"user {user_id!r} already holds role {role.name!r}")
    d = tx.db.dialect
    tx.db.run(
        INSERT_USER_ROLE,
        {
            **params,
            "assigned_at": d.time_in(tx.now()),
            "assigned_by": assigned_by,
            "expires_at": d.time_in(expires_at),
        },
    )
    return RoleAssignment(role.name, user_id, None, tx.now(), assigned_by, expires_at)


# --- checks of what the methods are given ----------------------------------------------------


def _name(value: object, argument: str) -> str:
    text = arguments.text(value, argument, maximum=MAX_NAME_LENGTH)
    if not text.strip():
        raise ValueError(f"{argument} must not be empty")
    return text


def _description(value: object) -> None:
    arguments.text(value, "description", maximum=10_000)


def _flag(value: object, argument: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be a bool, got {describe(value)}")


def _time(value: object, argument: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValueError(f"{argument} must be a timezone-aware datetime, got {describe(value)}")


def _json(value: object, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise SerializationError(f"{what} is stored as JSON; {describe(value)} is not") from None


def _one_holder(user_id: str | None, group: str | None) -> None:
    if (user_id is None) == (group is None):
        raise TypeError("give user_id= or group=, exactly one")
    if user_id is not None:
        _name(user_id, "user_id")
    if group is not None:
        _name(group, "group name")


def _when(value: datetime | None) -> datetime:
    assert value is not None
    return value
