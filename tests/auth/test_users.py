"""Who is calling: `user=` read by the app's user provider (or a `tq.User` as is) reaches every
context through `ctx.caller`; nested calls keep it; jobs run internal without a user."""

from __future__ import annotations

from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.auth.support import ANN, BOB, only_item, register, single_task


class Request:
    """What a web framework would hand the provider."""

    def __init__(self, token: str | None) -> None:
        self.token = token


def from_request(request: Request) -> tq.User | None:
    return None if request.token is None else tq.User(request.token, attributes={"via": "token"})


def recording(seen: list[tq.Caller]) -> Any:
    def complete(ctx: tq.WorkItemActionContext, payload: None) -> None:
        seen.append(ctx.caller)
        ctx.work_item.complete()

    return Builder.work_item("item").with_actions(
        Builder.work_item_actions().complete(None, complete)
    )


def test_the_provider_reads_the_user_from_what_the_call_passes(make_app):
    app = make_app(get_user=from_request)
    seen: list[tq.Caller] = []
    api = register(app, single_task(recording(seen)))
    for token in ("ann", None):
        item = only_item(api, api.internal_initialize_root_workflow())
        api.internal_start_work_item(item)
        api.complete_work_item(item, user=Request(token))
    assert [c.user.id if c.user else None for c in seen] == ["ann", None]
    assert seen[0].user is not None and seen[0].user.attributes == {"via": "token"}
    assert not seen[0].is_internal


def test_a_user_value_is_taken_as_is_with_or_without_a_provider(make_app):
    for app in (make_app(), make_app(get_user=from_request)):
        seen: list[tq.Caller] = []
        api = register(app, single_task(recording(seen)))
        item = only_item(api, api.internal_initialize_root_workflow())
        api.internal_start_work_item(item)
        api.complete_work_item(item, user=ANN)
        assert seen[0].user == ANN


def test_without_a_provider_anything_but_a_user_is_a_type_error(make_app):
    app = make_app()
    api = register(app, single_task(Builder.work_item("item")))
    with pytest.raises(TypeError, match="no user provider"):
        api.internal_initialize_root_workflow(user="ann")
    with pytest.raises(TypeError, match="no user provider"):
        api.list_workflows(user={"id": "ann"})


def test_a_provider_returning_something_else_than_a_user_is_a_type_error(make_app):
    app = make_app(get_user=lambda source: {"id": source})
    api = register(app, single_task(Builder.work_item("item")))
    with pytest.raises(TypeError, match=r"must return a tq.User or None"):
        api.internal_initialize_root_workflow(user="ann")


def test_a_user_needs_an_id():
    with pytest.raises(ValueError, match="non-empty str"):
        tq.User("")


def test_activities_and_registered_functions_see_the_caller(make_app):
    app = make_app()
    seen: dict[str, tq.User | None] = {}

    def on_enabled(ctx: tq.TaskActivityContext) -> None:
        seen["activity"] = ctx.user
        ctx.work_item.initialize()

    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task(
            "work", Builder.task(Builder.work_item("item")).with_activities(on_enabled=on_enabled)
        )
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )
    api = register(app, workflow)

    @app.mutation
    def begin(ctx: tq.MutationContext) -> str:
        seen["mutation"] = ctx.user
        return api.internal_initialize_root_workflow(ctx=ctx)

    @app.query
    def look(ctx: tq.QueryContext) -> None:
        seen["query"] = ctx.user

    app.run_mutation(begin, user=ANN)
    app.run_query(look, user=BOB)
    assert seen == {"mutation": ANN, "activity": ANN, "query": BOB}


def test_a_nested_call_may_name_another_user(make_app):
    app = make_app()
    seen: list[tq.Caller] = []
    api = register(app, single_task(recording(seen)))
    item = only_item(api, api.internal_initialize_root_workflow())
    api.internal_start_work_item(item)

    @app.mutation
    def on_behalf(ctx: tq.MutationContext, work_item_id: str) -> None:
        api.complete_work_item(work_item_id, ctx=ctx, user=BOB)

    app.run_mutation(on_behalf, work_item_id=item, user=ANN)
    assert [c.user for c in seen] == [BOB]


def test_actions_run_directly_see_their_user_and_jobs_run_internal_without_one(make_app):
    app = make_app()
    seen: list[tuple[bool, tq.User | None]] = []

    @app.mutation
    def note(ctx: tq.MutationContext) -> None:
        seen.append((ctx.is_internal, ctx.user))

    @app.action
    def act(ctx: tq.ActionContext) -> None:
        seen.append((ctx.is_internal, None))

    @app.mutation
    def later(ctx: tq.MutationContext) -> None:
        ctx.scheduler.run_after(0, note)

    app.run_mutation(later, user=ANN)
    app.run_due_jobs()
    app.run_action(act, user=ANN)
    assert seen == [(True, None), (False, None)]


def test_the_auth_configuration_is_checked():
    with pytest.raises(TypeError, match="takes a function"):
        tq.Auth(get_user="ann")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scopes"):
        tq.Auth(scopes=["er:triage"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"tq\.Auth"):
        tq.App("sqlite:///unused.db", auth={"get_user": None})  # type: ignore[arg-type]
