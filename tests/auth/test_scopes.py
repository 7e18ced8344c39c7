"""Scope modules: full names `<module>:<scope>`, nested modules prefixed, checked names, and
only declared scopes reach roles, policies and offers."""

from __future__ import annotations

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.auth.support import offered, single_task


def test_scopes_are_named_after_their_module_and_nested_modules_add_their_name():
    triage = tq.scopes("triage").scope("write").scope("read", deprecated=True)
    er = tq.scopes("er").scope("admit").module(triage)
    assert [s.name for s in er.scopes()] == ["er:admit", "er:triage:write", "er:triage:read"]
    assert [s.deprecated for s in er.scopes()] == [False, False, True]
    assert triage.scopes()[0].name == "triage:write"  # a module is immutable


def test_module_and_scope_names_are_checked():
    with pytest.raises(ValueError, match="without ':'"):
        tq.scopes("er:triage")
    with pytest.raises(ValueError, match="non-empty"):
        tq.scopes("er").scope("")
    with pytest.raises(ValueError, match="already declares 'write'"):
        tq.scopes("er").scope("write").scope("write")
    with pytest.raises(TypeError, match="module"):
        tq.scopes("er").module("triage")  # type: ignore[arg-type]


def test_a_scope_declared_twice_across_modules_is_refused():
    with pytest.raises(ValueError, match="'er:write' is declared twice"):
        tq.Auth(scopes=[tq.scopes("er").scope("write"), tq.scopes("er").scope("write")])


def test_registering_a_definition_whose_policy_names_an_unknown_scope_is_refused(make_app):
    app = make_app()
    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().start(policy=tq.require_any_scope("er:triage:write", "er:x"))
    )
    with pytest.raises(tq.UnknownScopeError, match="work item 'item' of task 'work', its start"):
        app.register(single_task(item))
    assert "wf" not in app.workflows


def test_registering_a_definition_offering_to_an_unknown_scope_is_refused(make_app):
    app = make_app()
    with pytest.raises(tq.UnknownScopeError, match=r"its offer.*'er:nowhere'"):
        app.register(single_task(offered(tq.Offer.to_scope("er:nowhere"))))


def test_combined_policies_are_checked_through_their_parts(make_app):
    app = make_app()
    policy = tq.any_policy(lambda ctx: True, tq.all_policies(tq.require_scope("er:missing")))
    item = Builder.work_item("item").with_actions(Builder.work_item_actions().start(policy=policy))
    with pytest.raises(tq.UnknownScopeError, match="er:missing"):
        app.register(single_task(item))
