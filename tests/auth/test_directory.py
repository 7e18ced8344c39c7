"""`app.auth`: groups, roles, memberships and role assignments, and how a user's roles, scopes
and groups are resolved (direct + group roles, expiry, inactive roles and groups)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import tasquencer as tq
from tests.auth.support import ADMIN, ANN, BOB, PHYSICIAN, READ, TRIAGE
from tests.helpers import dump

# --- groups ----------------------------------------------------------------------------------


def test_a_group_is_created_read_listed_updated_and_renamed(auth_app):
    created = auth_app.auth.create_group("nurses", description="ER nurses", metadata={"floor": 2})
    auth_app.auth.create_group("doctors")
    assert auth_app.auth.get_group("nurses") == created
    assert created.is_active and created.metadata == {"floor": 2}
    assert [g.name for g in auth_app.auth.list_groups()] == ["doctors", "nurses"]
    renamed = auth_app.auth.update_group("nurses", new_name="night nurses", is_active=False)
    assert (renamed.id, renamed.name, renamed.is_active) == (created.id, "night nurses", False)
    assert renamed.description == "ER nurses"
    assert auth_app.auth.get_group("nurses") is None
    assert auth_app.auth.get_group("night nurses") == renamed


def test_a_duplicate_group_name_is_refused_on_create_and_on_rename(auth_app):
    auth_app.auth.create_group("nurses")
    auth_app.auth.create_group("doctors")
    before = dump(auth_app)
    with pytest.raises(tq.AlreadyExistsError, match="already a group named 'nurses'"):
        auth_app.auth.create_group("nurses")
    with pytest.raises(tq.AlreadyExistsError, match="'doctors'"):
        auth_app.auth.update_group("nurses", new_name="doctors")
    assert dump(auth_app) == before


def test_deleting_a_group_deletes_its_memberships_and_role_assignments(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.delete_group("nurses")
    assert auth_app.auth.list_groups() == []
    assert auth_app.auth.role_assignments("nurse") == []
    assert auth_app.auth.memberships(user_id=ANN.id) == []
    assert auth_app.auth.scopes_of(ANN.id) == frozenset()
    with pytest.raises(tq.GroupNotFoundError, match="no group named 'nurses'"):
        auth_app.auth.delete_group("nurses")


# --- roles -----------------------------------------------------------------------------------


def test_a_role_is_created_with_declared_scopes_read_updated_and_listed(auth_app):
    role = auth_app.auth.create_role("nurse", [TRIAGE, READ, TRIAGE], description="Triage")
    assert role.scopes == (TRIAGE, READ)
    assert auth_app.auth.get_role("nurse") == role
    changed = auth_app.auth.update_role("nurse", scopes=[PHYSICIAN], new_name="doctor")
    assert (changed.id, changed.name, changed.scopes) == (role.id, "doctor", (PHYSICIAN,))
    assert [r.name for r in auth_app.auth.list_roles()] == ["doctor"]


def test_a_role_with_an_unknown_scope_is_refused_and_nothing_changes(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    before = dump(auth_app)
    with pytest.raises(tq.UnknownScopeError, match=r"role 'clerk': unknown scope.*'er:billing'"):
        auth_app.auth.create_role("clerk", [TRIAGE, "er:billing"])
    with pytest.raises(tq.UnknownScopeError, match="'triage:write'"):
        auth_app.auth.update_role("nurse", scopes=["triage:write"])  # the module prefix is needed
    with pytest.raises(TypeError, match="list of scope names"):
        auth_app.auth.create_role("clerk", TRIAGE)  # type: ignore[arg-type]
    assert dump(auth_app) == before


def test_a_duplicate_role_name_is_refused_on_create_and_on_rename(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_role("doctor", [PHYSICIAN])
    with pytest.raises(tq.AlreadyExistsError):
        auth_app.auth.create_role("nurse", [READ])
    with pytest.raises(tq.AlreadyExistsError):
        auth_app.auth.update_role("doctor", new_name="nurse")


def test_deleting_a_role_deletes_its_group_and_user_assignments(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.assign_role("nurse", user_id=BOB.id)
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.delete_role("nurse")
    assert auth_app.auth.scopes_of(ANN.id) == auth_app.auth.scopes_of(BOB.id) == frozenset()
    assert auth_app.auth.get_group("nurses") is not None
    with pytest.raises(tq.RoleNotFoundError):
        auth_app.auth.role_assignments("nurse")


# --- memberships and assignments -------------------------------------------------------------


def test_memberships_are_added_once_and_removed_and_removing_a_missing_one_raises(auth_app):
    auth_app.auth.create_group("nurses")
    member = auth_app.auth.add_member("nurses", ANN.id)
    assert (member.user_id, member.group, member.expires_at) == (ANN.id, "nurses", None)
    with pytest.raises(tq.AlreadyExistsError, match="already a member"):
        auth_app.auth.add_member("nurses", ANN.id)
    with pytest.raises(tq.GroupNotFoundError):
        auth_app.auth.add_member("doctors", ANN.id)
    auth_app.auth.remove_member("nurses", ANN.id)
    assert auth_app.auth.group_members("nurses") == []
    with pytest.raises(tq.AssignmentNotFoundError, match="'ann' is not a member of 'nurses'"):
        auth_app.auth.remove_member("nurses", ANN.id)


def test_group_roles_are_assigned_once_and_removed(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_group("nurses")
    assigned = auth_app.auth.assign_role("nurse", group="nurses", assigned_by="admin")
    assert (assigned.group, assigned.user_id, assigned.assigned_by) == ("nurses", None, "admin")
    with pytest.raises(tq.AlreadyExistsError):
        auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.unassign_role("nurse", group="nurses")
    assert auth_app.auth.role_assignments("nurse") == []
    with pytest.raises(tq.AssignmentNotFoundError, match="group 'nurses' does not hold"):
        auth_app.auth.unassign_role("nurse", group="nurses")


def test_direct_roles_are_assigned_once_and_removed(auth_app):
    auth_app.auth.create_role("doctor", [PHYSICIAN])
    auth_app.auth.assign_role("doctor", user_id=BOB.id)
    with pytest.raises(tq.AlreadyExistsError):
        auth_app.auth.assign_role("doctor", user_id=BOB.id)
    assert [r.name for r in auth_app.auth.roles_of(BOB.id)] == ["doctor"]
    auth_app.auth.unassign_role("doctor", user_id=BOB.id)
    assert auth_app.auth.roles_of(BOB.id) == []
    with pytest.raises(tq.AssignmentNotFoundError, match="user 'bob' does not hold"):
        auth_app.auth.unassign_role("doctor", user_id=BOB.id)


def test_an_assignment_names_exactly_one_holder_and_only_users_roles_expire(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_group("nurses")
    before = dump(auth_app)
    with pytest.raises(TypeError, match="exactly one"):
        auth_app.auth.assign_role("nurse")
    with pytest.raises(TypeError, match="exactly one"):
        auth_app.auth.assign_role("nurse", user_id=ANN.id, group="nurses")
    with pytest.raises(ValueError, match="does not expire"):
        auth_app.auth.assign_role(
            "nurse", group="nurses", expires_at=auth_app.clock.now() + timedelta(days=1)
        )
    with pytest.raises(TypeError, match="expires_at must be a datetime"):
        auth_app.auth.assign_role("nurse", user_id=ANN.id, expires_at="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        auth_app.auth.assign_role(
            "nurse",
            user_id=ANN.id,
            expires_at=datetime.min.replace(tzinfo=timezone(timedelta(hours=2))),
        )
    assert dump(auth_app) == before


def test_replacing_a_user_s_groups_and_roles_keeps_adds_and_removes(auth_app):
    for name in ("a", "b", "c"):
        auth_app.auth.create_group(name)
        auth_app.auth.create_role(f"role-{name}", [TRIAGE])
    auth_app.auth.set_user_groups(ANN.id, ["a", "b"])
    auth_app.auth.set_user_groups(ANN.id, ["b", "c"])
    assert [m.group for m in auth_app.auth.memberships(user_id=ANN.id)] == ["b", "c"]
    auth_app.auth.set_user_roles(ANN.id, ["role-a"])
    auth_app.auth.set_user_roles(ANN.id, ["role-b", "role-c"])
    held = auth_app.auth.roles_of(ANN.id)
    assert [r.name for r in held] == ["role-b", "role-c"]
    before = dump(auth_app)
    with pytest.raises(tq.GroupNotFoundError):
        auth_app.auth.set_user_groups(ANN.id, ["a", "missing"])
    assert dump(auth_app) == before


# --- resolution (docs/semantics.md §15.2) ---------------------------------------------------------


def test_a_user_with_nothing_has_no_roles_scopes_or_groups(auth_app):
    assert auth_app.auth.roles_of(ANN.id) == []
    assert auth_app.auth.scopes_of(ANN.id) == frozenset()
    assert auth_app.auth.groups_of(ANN.id) == []


def test_a_user_s_roles_are_their_direct_roles_and_their_groups_roles(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE, READ])
    auth_app.auth.create_role("doctor", [PHYSICIAN, READ])
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.assign_role("doctor", user_id=ANN.id)
    assert [r.name for r in auth_app.auth.roles_of(ANN.id)] == ["doctor", "nurse"]
    assert auth_app.auth.scopes_of(ANN.id) == {TRIAGE, READ, PHYSICIAN}  # de-duplicated


def test_expired_memberships_and_direct_roles_give_nothing(auth_app):
    now = auth_app.clock.now()
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_role("doctor", [PHYSICIAN])
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.add_member("nurses", ANN.id, expires_at=now + timedelta(hours=1))
    auth_app.auth.assign_role("doctor", user_id=ANN.id, expires_at=now + timedelta(hours=2))
    assert auth_app.auth.scopes_of(ANN.id) == {TRIAGE, PHYSICIAN}
    assert auth_app.auth.user_in_group(ANN.id, "nurses")
    auth_app.clock.advance(3600)  # the membership ends exactly now
    assert auth_app.auth.scopes_of(ANN.id) == {PHYSICIAN}
    assert not auth_app.auth.user_in_group(ANN.id, "nurses")
    assert auth_app.auth.group_members("nurses") == []
    assert [m.user_id for m in auth_app.auth.memberships(group="nurses")] == [ANN.id]
    auth_app.clock.advance(3600)
    assert auth_app.auth.scopes_of(ANN.id) == frozenset()


def test_an_inactive_role_gives_no_scopes(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.assign_role("nurse", user_id=ANN.id)
    auth_app.auth.update_role("nurse", is_active=False)
    assert auth_app.auth.roles_of(ANN.id) == []
    assert auth_app.auth.scopes_of(ANN.id) == frozenset()


def test_an_inactive_group_gives_its_members_no_roles_and_no_membership(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.update_group("nurses", is_active=False)
    assert auth_app.auth.scopes_of(ANN.id) == frozenset()
    assert auth_app.auth.groups_of(ANN.id) == []
    assert not auth_app.auth.user_in_group(ANN.id, "nurses")


def test_user_in_group_is_false_for_a_non_member(auth_app):
    auth_app.auth.create_group("nurses")
    auth_app.auth.add_member("nurses", ANN.id)
    assert auth_app.auth.user_in_group(ANN.id, "nurses")
    assert not auth_app.auth.user_in_group(BOB.id, "nurses")


def test_group_members_lists_the_unexpired_members(auth_app):
    auth_app.auth.create_group("nurses")
    auth_app.auth.add_member("nurses", BOB.id)
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.add_member("nurses", "carl", expires_at=auth_app.clock.now())
    assert auth_app.auth.group_members("nurses") == [ANN.id, BOB.id]


def test_users_with_a_scope_hold_it_directly_or_through_an_active_group(auth_app):
    auth_app.auth.create_role("nurse", [TRIAGE])
    auth_app.auth.create_role("retired", [TRIAGE], is_active=False)
    auth_app.auth.create_group("nurses")
    auth_app.auth.assign_role("nurse", group="nurses")
    auth_app.auth.add_member("nurses", ANN.id)
    auth_app.auth.assign_role("nurse", user_id=BOB.id)
    auth_app.auth.assign_role("retired", user_id="dora")
    auth_app.auth.assign_role("nurse", user_id="eve", expires_at=auth_app.clock.now())
    assert auth_app.auth.users_with_scope(TRIAGE) == [ANN.id, BOB.id]
    assert auth_app.auth.users_with_scope(PHYSICIAN) == []
    with pytest.raises(tq.UnknownScopeError):
        auth_app.auth.users_with_scope("er:nothing")


def test_the_declared_scopes_are_listed_with_their_metadata(auth_app):
    scopes = {s.name: s for s in auth_app.auth.scopes()}
    assert set(scopes) == {TRIAGE, READ, PHYSICIAN, "admin:all"}
    assert scopes[TRIAGE].description == "Record a triage decision"
    assert scopes[PHYSICIAN].tags == ("clinical",)
    assert scopes["admin:all"].module_kind == "system"
    assert ADMIN.scopes()[0].name == "admin:all"


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.auth.create_group(""),
        lambda a: a.auth.create_group("x" * 201),
        lambda a: a.auth.create_group("nul\x00"),
        lambda a: a.auth.create_group(7),
        lambda a: a.auth.create_group("g", is_active="yes"),
        lambda a: a.auth.create_group("g", metadata={"when": object()}),
        lambda a: a.auth.add_member("g", ""),
        lambda a: a.auth.memberships(),
    ],
)
def test_bad_input_is_refused_before_anything_changes(auth_app, call):
    before = dump(auth_app)
    with pytest.raises((TypeError, ValueError)):
        call(auth_app)
    assert dump(auth_app) == before
