"""Access policies: the helpers' verdicts, and what a refused or allowed external call does;
internal calls skip policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
import pytest
from sqlalchemy.orm import Session

import tasquencer as tq
from tasquencer import Builder
from tests.auth.support import (
    ANN,
    BOB,
    READ,
    TRIAGE,
    one_work_item,
    only_item,
    register,
    single_task,
    staff,
)
from tests.helpers import dump


class Held:
    """A stand-in policy context: a user (or nobody) holding some scopes."""

    def __init__(self, user: tq.User | None, *scopes: str) -> None:
        self.user = user
        self.scopes = frozenset(scopes)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def verdict(policy: Any, ctx: Held) -> bool:
    return bool(policy(ctx))


def test_require_scope_allows_a_holder_and_refuses_others_and_nobody():
    policy = tq.require_scope(TRIAGE)
    assert verdict(policy, Held(ANN, TRIAGE))
    assert not verdict(policy, Held(ANN, READ))
    assert not verdict(policy, Held(None, TRIAGE))


def test_require_any_scope_wants_one_and_require_all_scopes_wants_every_one():
    assert verdict(tq.require_any_scope(TRIAGE, READ), Held(ANN, READ))
    assert not verdict(tq.require_any_scope(TRIAGE, READ), Held(ANN))
    assert verdict(tq.require_all_scopes(TRIAGE, READ), Held(ANN, TRIAGE, READ))
    assert not verdict(tq.require_all_scopes(TRIAGE, READ), Held(ANN, TRIAGE))
    with pytest.raises(ValueError):
        tq.require_any_scope()


def test_any_policy_allows_on_the_first_allow_and_all_policies_refuses_on_the_first_refusal():
    asked: list[str] = []

    def says(name: str, answer: bool) -> Any:
        def policy(ctx: Any) -> bool:
            asked.append(name)
            return answer

        return policy

    assert verdict(tq.any_policy(says("a", False), says("b", True), says("c", True)), Held(ANN))
    assert asked == ["a", "b"]
    asked.clear()
    assert not verdict(tq.any_policy(says("a", False)), Held(ANN))
    assert not verdict(
        tq.all_policies(says("a", True), says("b", False), says("c", True)), Held(ANN)
    )
    assert asked == ["a", "a", "b"]
    assert verdict(tq.all_policies(says("a", True)), Held(ANN))
    with pytest.raises(TypeError):
        tq.any_policy()


def guarded(policy: tq.AccessPolicy) -> Any:
    return Builder.work_item("item").with_actions(
        Builder.work_item_actions().start(policy=policy).complete(policy=policy)
    )


def test_a_refused_call_raises_and_changes_nothing(make_app):
    app = make_app()
    staff(app)
    api = register(app, single_task(guarded(tq.require_scope(TRIAGE))))
    item = only_item(api, api.internal_initialize_root_workflow())
    before = dump(app)
    with pytest.raises(tq.ForbiddenError, match=r"start action of work item 'item'.*'bob'"):
        api.start_work_item(item, user=BOB)
    with pytest.raises(tq.AuthenticationRequiredError, match="requires a signed-in user"):
        api.start_work_item(item)
    assert dump(app) == before
    api.start_work_item(item, user=ANN)
    assert api.get_work_item_state(item) == "started"


def test_internal_calls_skip_policies(make_app):
    app = make_app()
    api = register(app, single_task(guarded(lambda ctx: False)))
    item = only_item(api, api.internal_initialize_root_workflow())
    api.internal_start_work_item(item)
    api.internal_complete_work_item(item, user=BOB)
    assert api.get_work_item_state(item) == "completed"


def test_a_default_action_with_a_policy_accepts_allowed_external_callers(make_app):
    app = make_app()
    staff(app)
    plain = register(app, single_task(Builder.work_item("item"), name="plain"))
    item = only_item(plain, plain.internal_initialize_root_workflow())
    with pytest.raises(tq.NotInternalMutationError):
        plain.start_work_item(item, user=ANN)  # no policy: still internal only
    api = register(app, single_task(guarded(tq.require_scope(TRIAGE))))
    item = only_item(api, api.internal_initialize_root_workflow())
    api.start_work_item(item, user=ANN)
    api.complete_work_item(item, user=ANN)
    assert api.get_work_item_state(item) == "completed"


class Note(pydantic.BaseModel):
    amount: int


def test_a_policy_sees_the_action_the_validated_payload_the_elements_and_the_user_s_access(
    make_app,
):
    app = make_app()
    staff(app)
    seen: dict[str, Any] = {}

    def policy(ctx: tq.AuthorizationContext) -> bool:
        seen.update(
            action=ctx.action,
            payload=ctx.payload,
            work_item=(ctx.work_item.name if ctx.work_item else None),
            workflow=(ctx.workflow.name if ctx.workflow else None),
            claimed_by=ctx.claimed_by,
            scopes=ctx.scopes,
            groups=ctx.groups,
            has=ctx.has_scope(TRIAGE),
            user=ctx.user,
            internal=ctx.is_internal,
            db=isinstance(ctx.db, Session),
            now=isinstance(ctx.now(), datetime),
        )
        return True

    def complete(ctx: tq.WorkItemActionContext, note: Note) -> None:
        ctx.work_item.complete()

    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().complete(Note, complete, policy=policy)
    )
    api = register(app, single_task(item))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    api.internal_start_work_item(work_item)
    with pytest.raises(tq.PayloadValidationError):
        api.complete_work_item(work_item, {"amount": "many"}, user=ANN)
    assert seen == {}
    api.complete_work_item(work_item, {"amount": 3}, user=ANN)
    assert seen == {
        "action": "complete",
        "payload": Note(amount=3),
        "work_item": "item",
        "workflow": "wf",
        "claimed_by": None,
        "scopes": frozenset({TRIAGE, READ}),
        "groups": frozenset({"nurses"}),
        "has": True,
        "user": ANN,
        "internal": False,
        "db": True,
        "now": True,
    }


def test_a_policy_returning_anything_but_a_bool_is_an_error(make_app):
    app = make_app()
    api = register(app, single_task(guarded(lambda ctx: "allow")))  # type: ignore[arg-type,return-value]
    item = only_item(api, api.internal_initialize_root_workflow())
    with pytest.raises(tq.InvalidPolicyResultError, match="returned 'allow'"):
        api.start_work_item(item, user=ANN)


def test_workflow_initialize_and_cancel_actions_take_policies(make_app):
    app = make_app()
    staff(app)
    actions = (
        Builder.workflow_actions()
        .initialize(policy=tq.require_scope(TRIAGE))
        .cancel(policy=tq.require_scope(READ))
    )
    api = register(app, single_task(Builder.work_item("item")).with_actions(actions))
    before = dump(app)
    with pytest.raises(tq.ForbiddenError, match="initialize action of workflow 'wf'"):
        api.initialize_root_workflow(user=BOB)
    assert dump(app) == before
    workflow_id = api.initialize_root_workflow(user=ANN)
    with pytest.raises(tq.AuthenticationRequiredError):
        api.cancel_root_workflow(workflow_id)
    api.cancel_root_workflow(workflow_id, user=ANN)
    assert api.get_workflow_state(workflow_id) == "canceled"


def test_initializing_a_work_item_asks_its_initialize_policy(make_app):
    app = make_app()
    staff(app)
    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().initialize(policy=tq.require_scope(TRIAGE))
    )
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("work", Builder.task(item).with_activities(on_enabled=one_work_item))
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )
    api = register(app, workflow)
    workflow_id = api.internal_initialize_root_workflow()
    target = {
        "path": ["wf", "work", "item"],
        "parent_workflow_id": workflow_id,
        "parent_task_name": "work",
    }
    with pytest.raises(tq.ForbiddenError):
        api.initialize_work_item(target, user=BOB)
    api.initialize_work_item(target, user=ANN)
    assert len(api.list_work_items(workflow_id)) == 2


def test_a_nested_call_keeps_the_outer_call_s_user(make_app):
    app = make_app()
    staff(app)
    api = register(app, single_task(guarded(tq.require_scope(TRIAGE))))
    item = only_item(api, api.internal_initialize_root_workflow())

    @app.mutation
    def start_for_caller(ctx: tq.MutationContext, work_item_id: str) -> None:
        api.start_work_item(work_item_id, ctx=ctx)

    with pytest.raises(tq.ForbiddenError):
        app.run_mutation(start_for_caller, work_item_id=item, user=BOB)
    app.run_mutation(start_for_caller, work_item_id=item, user=ANN)
    assert api.get_work_item_state(item) == "started"
