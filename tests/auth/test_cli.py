"""`tasquencer auth ...`: scopes, groups, roles, members and assignments from the command line,
on an app module written for each test."""

from __future__ import annotations

from tests.test_cli import invoke

AUTH_APP = """
import tasquencer as tq

er = tq.scopes("er").scope("triage:write", description="Triage", tags=("clinical",))
app = tq.App({url!r}, auth=tq.Auth(scopes=[er]))
"""


def test_scopes_lists_the_declared_scopes(write_app):
    module = write_app(AUTH_APP)
    result = invoke("auth", "scopes", "--app", f"{module}:app")
    assert result.exit_code == 0, result.output
    assert "er:triage:write" in result.output and "clinical" in result.output


def test_groups_roles_members_and_assignments_are_managed_and_shown(write_app):
    app = f"{write_app(AUTH_APP)}:app"
    for args in (
        ("groups", "create", "nurses", "--description", "ER nurses"),
        ("roles", "create", "nurse", "--scope", "er:triage:write"),
        ("members", "add", "nurses", "ann"),
        ("members", "add", "nurses", "bob", "--expires", "2999-01-01T00:00:00+00:00"),
        ("assignments", "add", "nurse", "--group", "nurses", "--by", "admin"),
    ):
        result = invoke("auth", *args, "--app", app)
        assert result.exit_code == 0, (args, result.output)
    shown = invoke("auth", "user", "ann", "--app", app).output
    assert "roles: nurse" in shown and "groups: nurses" in shown
    assert "scopes: er:triage:write" in shown
    assert "nurses" in invoke("auth", "groups", "list", "--app", app).output
    assert "er:triage:write" in invoke("auth", "roles", "list", "--app", app).output
    members = invoke("auth", "members", "list", "nurses", "--app", app).output
    assert "ann" in members and "2999-01-01T00:00:00+00:00" in members
    assert "admin" in invoke("auth", "assignments", "list", "nurse", "--app", app).output
    assert invoke("auth", "groups", "update", "nurses", "--inactive", "--app", app).exit_code == 0
    assert "scopes: none" in invoke("auth", "user", "ann", "--app", app).output
    for args in (
        ("assignments", "remove", "nurse", "--group", "nurses"),
        ("members", "remove", "nurses", "ann"),
        ("roles", "update", "nurse", "--rename", "triage nurse"),
        ("roles", "delete", "triage nurse"),
        ("groups", "delete", "nurses"),
    ):
        result = invoke("auth", *args, "--app", app)
        assert result.exit_code == 0, (args, result.output)
    assert "nurses" not in invoke("auth", "groups", "list", "--app", app).output


def test_refused_input_is_reported_with_status_1(write_app):
    app = f"{write_app(AUTH_APP)}:app"
    unknown = invoke("auth", "roles", "create", "clerk", "--scope", "er:billing", "--app", app)
    assert unknown.exit_code == 1
    assert "UnknownScopeError" in unknown.output and "er:billing" in unknown.output
    missing = invoke("auth", "members", "add", "nobody", "ann", "--app", app)
    assert missing.exit_code == 1 and "GroupNotFoundError" in missing.output
    both = invoke("auth", "assignments", "add", "x", "--app", app)
    assert both.exit_code == 1
    naive = invoke("auth", "members", "add", "g", "ann", "--expires", "2030-01-01", "--app", app)
    assert naive.exit_code == 2 and "time zone" in naive.output
