"""`app.auth`: groups, roles with scopes, memberships and role assignments, and what a user
holds. Every method is one transaction; bad input raises before anything changes.

Groups and roles are named by their (unique) names; users by their opaque ids (the app's user
provider owns users). Deleting a group or a role deletes its memberships and assignments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from tasquencer.auth import inputs, rows
from tasquencer.auth import statements as st
from tasquencer.auth.resolution import access_of
from tasquencer.auth.scopes import ScopeRegistry
from tasquencer.errors import AlreadyExistsError, AssignmentNotFoundError, describe
from tasquencer.records import Group, Membership, Role, RoleAssignment, Scope
from tasquencer.runtime.runner import Runner
from tasquencer.runtime.transaction import Transaction

T = TypeVar("T")
_KEEP: Any = object()  # "leave this field as it is" in updates


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
        inputs.name(name, "group name")
        inputs.description(description)
        inputs.flag(is_active, "is_active")
        inputs.json_value(metadata, "a group's metadata")

        def create(tx: Transaction) -> Group:
            if rows.group_row(tx, name) is not None:
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
            tx.db.run(st.INSERT_GROUP, row)
            return Group(row["id"], name, description, is_active, metadata, tx.now())

        return self._write(create)

    def get_group(self, name: str) -> Group | None:
        inputs.name(name, "group name")
        return self._read(lambda tx: rows.group_or_none(tx, rows.group_row(tx, name)))

    def list_groups(self) -> list[Group]:
        return self._read(rows.all_groups)

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
        inputs.name(name, "group name")
        if new_name is not _KEEP:
            inputs.name(new_name, "new_name")
        if description is not _KEEP:
            inputs.description(description)
        if is_active is not _KEEP:
            inputs.flag(is_active, "is_active")
        if metadata is not _KEEP:
            inputs.json_value(metadata, "a group's metadata")

        def update(tx: Transaction) -> Group:
            group = rows.require_group(tx, name)
            if new_name is not _KEEP and new_name != name and rows.group_row(tx, new_name):
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
                st.UPDATE_GROUP,
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
        inputs.name(name, "group name")

        def delete(tx: Transaction) -> None:
            group = rows.require_group(tx, name)
            tx.db.run(st.DELETE_MEMBERSHIPS_OF_GROUP, {"group_id": group.id})
            tx.db.run(st.DELETE_GROUP_ROLES_OF_GROUP, {"group_id": group.id})
            tx.db.run(st.DELETE_GROUP, {"id": group.id})

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
        inputs.name(name, "role name")
        granted = self._scopes(scopes, f"role {name!r}")
        inputs.description(description)
        inputs.flag(is_active, "is_active")
        inputs.json_value(metadata, "a role's metadata")

        def create(tx: Transaction) -> Role:
            if rows.role_row(tx, name) is not None:
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
            tx.db.run(st.INSERT_ROLE, row)
            return Role(row["id"], name, description, granted, is_active, metadata, tx.now())

        return self._write(create)

    def get_role(self, name: str) -> Role | None:
        inputs.name(name, "role name")
        return self._read(lambda tx: rows.role_or_none(tx, rows.role_row(tx, name)))

    def list_roles(self) -> list[Role]:
        return self._read(rows.all_roles)

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
        inputs.name(name, "role name")
        if new_name is not _KEEP:
            inputs.name(new_name, "new_name")
        granted = None if scopes is _KEEP else self._scopes(scopes, f"role {name!r}")
        if description is not _KEEP:
            inputs.description(description)
        if is_active is not _KEEP:
            inputs.flag(is_active, "is_active")
        if metadata is not _KEEP:
            inputs.json_value(metadata, "a role's metadata")

        def update(tx: Transaction) -> Role:
            role = rows.require_role(tx, name)
            if new_name is not _KEEP and new_name != name and rows.role_row(tx, new_name):
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
                st.UPDATE_ROLE,
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
        inputs.name(name, "role name")

        def delete(tx: Transaction) -> None:
            role = rows.require_role(tx, name)
            tx.db.run(st.DELETE_GROUP_ROLES_OF_ROLE, {"role_id": role.id})
            tx.db.run(st.DELETE_USER_ROLES_OF_ROLE, {"role_id": role.id})
            tx.db.run(st.DELETE_ROLE, {"id": role.id})

        self._write(delete)

    # --- memberships -----------------------------------------------------------------------

    def add_member(
        self, group: str, user_id: str, *, expires_at: datetime | None = None
    ) -> Membership:
        """Make a user a member of a group, until `expires_at` if given."""
        inputs.name(group, "group name")
        inputs.name(user_id, "user_id")
        inputs.aware_time(expires_at, "expires_at")

        def add(tx: Transaction) -> Membership:
            found = rows.require_group(tx, group)
            return rows.add_member(tx, found, user_id, expires_at)

        return self._write(add)

    def remove_member(self, group: str, user_id: str) -> None:
        inputs.name(group, "group name")
        inputs.name(user_id, "user_id")

        def remove(tx: Transaction) -> None:
            found = rows.require_group(tx, group)
            if tx.db.run(st.DELETE_MEMBERSHIP, {"user_id": user_id, "group_id": found.id}) == 0:
                raise AssignmentNotFoundError(f"user {user_id!r} is not a member of {group!r}")

        self._write(remove)

    def set_user_groups(self, user_id: str, groups: Iterable[str]) -> None:
        """Make the user a member of exactly these groups (memberships kept, added, removed)."""
        inputs.name(user_id, "user_id")
        wanted = list(dict.fromkeys(groups))
        for name in wanted:
            inputs.name(name, "group name")

        def replace(tx: Transaction) -> None:
            targets = {name: rows.require_group(tx, name) for name in wanted}
            current = {
                m.group for m in rows.memberships(tx, st.SELECT_MEMBERSHIPS_OF_USER, user_id)
            }
            for name in current - set(wanted):
                group_id = rows.require_group(tx, name).id
                tx.db.run(st.DELETE_MEMBERSHIP, {"user_id": user_id, "group_id": group_id})
            for name in wanted:
                if name not in current:
                    rows.add_member(tx, targets[name], user_id, None)

        self._write(replace)

    def memberships(
        self, *, group: str | None = None, user_id: str | None = None
    ) -> list[Membership]:
        """The memberships of a group or of a user, expired ones included."""
        if (group is None) == (user_id is None):
            raise TypeError("memberships() takes group= or user_id=, exactly one")

        def read(tx: Transaction) -> list[Membership]:
            if group is not None:
                inputs.name(group, "group name")
                group_id = rows.require_group(tx, group).id
                return rows.members_of(tx, group_id)
            assert user_id is not None
            inputs.name(user_id, "user_id")
            return rows.memberships(tx, st.SELECT_MEMBERSHIPS_OF_USER, user_id)

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
        inputs.name(role, "role name")
        inputs.one_holder(user_id, group)
        inputs.aware_time(expires_at, "expires_at")
        if assigned_by is not None:
            inputs.name(assigned_by, "assigned_by")
        if group is not None and expires_at is not None:
            raise ValueError("a group's role does not expire; expires_at is for users' roles")

        def assign(tx: Transaction) -> RoleAssignment:
            found = rows.require_role(tx, role)
            if group is not None:
                holder = rows.require_group(tx, group)
                return rows.assign_to_group(tx, found, holder, assigned_by)
            assert user_id is not None
            return rows.assign_to_user(tx, found, user_id, expires_at, assigned_by)

        return self._write(assign)

    def unassign_role(
        self, role: str, *, user_id: str | None = None, group: str | None = None
    ) -> None:
        inputs.name(role, "role name")
        inputs.one_holder(user_id, group)

        def unassign(tx: Transaction) -> None:
            found = rows.require_role(tx, role)
            if group is not None:
                holder = rows.require_group(tx, group)
                deleted = tx.db.run(
                    st.DELETE_GROUP_ROLE, {"group_id": holder.id, "role_id": found.id}
                )
                who = f"group {group!r}"
            else:
                deleted = tx.db.run(st.DELETE_USER_ROLE, {"user_id": user_id, "role_id": found.id})
                who = f"user {user_id!r}"
            if deleted == 0:
                raise AssignmentNotFoundError(f"{who} does not hold role {role!r}")

        self._write(unassign)

    def set_user_roles(self, user_id: str, roles: Iterable[str]) -> None:
        """Give the user exactly these direct roles (assignments kept, added, removed)."""
        inputs.name(user_id, "user_id")
        wanted = list(dict.fromkeys(roles))
        for name in wanted:
            inputs.name(name, "role name")

        def replace(tx: Transaction) -> None:
            targets = {name: rows.require_role(tx, name) for name in wanted}
            current = {r[0] for r in tx.db.all(st.SELECT_USER_ROLES_OF_USER, {"user_id": user_id})}
            for name in current - set(wanted):
                role_id = rows.require_role(tx, name).id
                tx.db.run(st.DELETE_USER_ROLE, {"user_id": user_id, "role_id": role_id})
            for name in wanted:
                if name not in current:
                    rows.assign_to_user(tx, targets[name], user_id, None, None)

        self._write(replace)

    def role_assignments(self, role: str) -> list[RoleAssignment]:
        """Who holds a role: users directly (expired ones included) and groups."""
        inputs.name(role, "role name")

        def read(tx: Transaction) -> list[RoleAssignment]:
            held = self._assignments(tx, rows.require_role(tx, role))
            return sorted(held, key=lambda a: (a.group or "", a.user_id or ""))

        return self._read(read)

    # --- what users hold -------------------------------------------------------------------

    def roles_of(self, user_id: str) -> list[Role]:
        """The active roles a user holds now, directly or through their groups."""
        inputs.name(user_id, "user_id")

        def read(tx: Transaction) -> list[Role]:
            names = access_of(tx.db, user_id, tx.now()).roles
            return [r for r in rows.all_roles(tx) if r.name in names]

        return self._read(read)

    def scopes_of(self, user_id: str) -> frozenset[str]:
        """The scopes a user holds now."""
        inputs.name(user_id, "user_id")
        return self._read(lambda tx: access_of(tx.db, user_id, tx.now()).scopes)

    def groups_of(self, user_id: str) -> list[Group]:
        """The active groups a user is an unexpired member of."""
        inputs.name(user_id, "user_id")

        def read(tx: Transaction) -> list[Group]:
            names = access_of(tx.db, user_id, tx.now()).groups
            return [g for g in rows.all_groups(tx) if g.name in names]

        return self._read(read)

    def user_in_group(self, user_id: str, group: str) -> bool:
        """Whether the user is an unexpired member of the group, and the group is active."""
        inputs.name(user_id, "user_id")
        inputs.name(group, "group name")
        return self._read(lambda tx: group in access_of(tx.db, user_id, tx.now()).groups)

    def group_members(self, group: str) -> list[str]:
        """The users who are unexpired members of a group now."""
        inputs.name(group, "group name")

        def read(tx: Transaction) -> list[str]:
            group_id = rows.require_group(tx, group).id
            now = tx.now()
            members = rows.members_of(tx, group_id)
            return [m.user_id for m in members if m.expires_at is None or m.expires_at > now]

        return self._read(read)

    def users_with_scope(self, scope: str) -> list[str]:
        """The users who hold `scope` now, directly or through a group."""
        self._scopes([scope], "users_with_scope")

        def read(tx: Transaction) -> list[str]:
            users: set[str] = set()
            for role in rows.all_roles(tx):
                if role.is_active and scope in role.scopes:
                    users.update(self._holders(tx, role))
            return sorted(users)

        return self._read(read)

    # --- running ---------------------------------------------------------------------------

    def _holders(self, tx: Transaction, role: Role) -> set[str]:
        """The users who hold `role` now: unexpired direct holders, and the unexpired members
        of the active groups holding it."""
        now = tx.now()
        users: set[str] = set()
        for held in self._assignments(tx, role):
            if held.user_id is not None and (held.expires_at is None or held.expires_at > now):
                users.add(held.user_id)
            if held.group is not None:
                group = rows.require_group(tx, held.group)
                if group.is_active:
                    users.update(
                        m.user_id
                        for m in rows.members_of(tx, group.id)
                        if m.expires_at is None or m.expires_at > now
                    )
        return users

    def _assignments(self, tx: Transaction, role: Role) -> list[RoleAssignment]:
        d = tx.db.dialect
        return [
            RoleAssignment(role.name, u, g, rows.when(d.time_out(at)), by, d.time_out(expires))
            for u, g, at, by, expires in tx.db.all(
                st.SELECT_ASSIGNMENTS_OF_ROLE, {"role_id": role.id}
            )
        ]

    def _scopes(self, scopes: Iterable[str], where: str) -> tuple[str, ...]:
        if isinstance(scopes, str) or not isinstance(scopes, Iterable):
            raise TypeError(f"{where}: scopes are a list of scope names, got {describe(scopes)}")
        return self._registry.require(scopes, where)

    def _write(self, body: Callable[[Transaction], T]) -> T:
        return self._runner.run(body)

    def _read(self, body: Callable[[Transaction], T]) -> T:
        return self._runner.run(body, read_only=True)
