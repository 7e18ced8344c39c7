"""Calls made from inside other calls: with `ctx=ctx` they are all or nothing inside the outer
transaction; without it they are refused at once (they would wait for the outer call's lock);
with the ctx of a call that has ended they are refused too."""

from __future__ import annotations

import time

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import auto_task, dump


def xor_review(router_target: str = "publish") -> tq.builder.WorkflowBuilder:
    """review (XOR split) -> publish | reject; the router's target can be made invalid."""

    def route(ctx: tq.RouterContext) -> tq.Route:
        return ctx.route.to_task(router_target)

    return (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("review", auto_task().with_split_type("xor"))
        .task("publish", auto_task())
        .task("reject", auto_task())
        .connect_condition("start", lambda to: to.task("review"))
        .connect_task("review", lambda to: to.task("publish").task("reject").route(route))
        .connect_task("publish", lambda to: to.condition("end"))
        .connect_task("reject", lambda to: to.condition("end"))
    )


def test_a_nested_call_that_raises_leaves_nothing_behind_even_when_caught(app):
    """The router routes to a task that is not an output: completing the review raises
    TaskInvalidRouteError deep in its cascade. The caller catches it; the call must not keep
    half of the cascade (review completed, no token produced: a case stuck forever)."""
    api = app.register(xor_review("nowhere")).api()
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)
    before = dump(app)
    caught = []

    @app.mutation
    def complete_and_swallow(ctx: tq.MutationContext) -> str:
        try:
            api.internal_complete_work_item(item.id, ctx=ctx)
        except tq.TaskInvalidRouteError as error:
            caught.append(error)
        return api.get_work_item_state(item.id, ctx=ctx)

    assert app.run_mutation(complete_and_swallow) == "started"
    assert len(caught) == 1
    assert dump(app) == before
    assert api.get_workflow_task_states(workflow_id)["review"] == "started"


def test_a_rolled_back_nested_call_leaves_the_outer_call_working_on_the_right_state(app):
    """After a failed nested call the outer call goes on: its later nested calls and its own
    writes see the state from before the failed one, and they commit."""
    api = app.register(xor_review("nowhere")).api()
    good = app.register(
        Builder.workflow("good")
        .start_condition("s")
        .end_condition("e")
        .task("a", auto_task())
        .connect_condition("s", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("e"))
    ).api()

    @app.mutation
    def mixed(ctx: tq.MutationContext) -> tuple[str, str]:
        broken = api.internal_initialize_root_workflow(ctx=ctx)
        (item,) = api.list_work_items(broken, ctx=ctx)
        with pytest.raises(tq.TaskInvalidRouteError):
            api.internal_complete_work_item(item.id, ctx=ctx)
        fine = good.internal_initialize_root_workflow(ctx=ctx)
        (other,) = good.list_work_items(fine, ctx=ctx)
        good.internal_complete_work_item(other.id, ctx=ctx)
        return broken, fine

    broken, fine = app.run_mutation(mixed)
    assert api.get_workflow_task_states(broken) == {
        "review": "started",
        "publish": "disabled",
        "reject": "disabled",
    }
    assert good.get_workflow_state(fine) == "completed"


def test_a_nested_call_rolled_back_undoes_the_rows_it_created_and_the_user_s_rows(app):
    import sqlalchemy as sa

    notes = sa.Table("nested_notes", sa.MetaData(), sa.Column("text", sa.String(50)))
    notes.create(app.engine)

    class Boom(Exception):
        pass

    def on_initialized(ctx: tq.WorkflowActivityContext) -> None:
        ctx.db.execute(notes.insert().values(text="from the nested call"))
        raise Boom()

    failing = app.register(
        Builder.workflow("failing")
        .with_activities(on_initialized=on_initialized)
        .start_condition("s")
        .end_condition("e")
        .task("a", auto_task())
        .connect_condition("s", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("e"))
    ).api()

    @app.mutation
    def outer(ctx: tq.MutationContext) -> None:
        ctx.db.execute(notes.insert().values(text="outer, before"))
        with pytest.raises(Boom):
            failing.internal_initialize_root_workflow(ctx=ctx)
        ctx.db.execute(notes.insert().values(text="outer, after"))

    app.run_mutation(outer)
    with app.engine.connect() as connection:
        texts = sorted(connection.execute(sa.select(notes.c.text)).scalars())
    assert texts == ["outer, after", "outer, before"]
    assert failing.list_workflows() == []


def test_a_call_without_ctx_inside_a_call_is_refused_at_once_and_says_what_to_do(app):
    api = app.register(xor_review()).api()
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)
    before = dump(app)

    @app.mutation
    def forgets_ctx(ctx: tq.MutationContext) -> None:
        api.internal_complete_work_item(item.id)

    @app.mutation
    def reads_without_ctx(ctx: tq.MutationContext) -> None:
        api.get_workflow_state(workflow_id)

    @app.mutation
    def nested_run_mutation(ctx: tq.MutationContext) -> None:
        app.run_mutation(reads_without_ctx)

    for mutation in (forgets_ctx, reads_without_ctx, nested_run_mutation):
        began = time.monotonic()
        with pytest.raises(tq.NestedCallError, match="ctx=ctx"):
            app.run_mutation(mutation)
        assert time.monotonic() - began < 5  # not a wait for the outer call's lock
    assert dump(app) == before


def test_an_activity_calling_the_api_without_ctx_is_refused(app):
    calls = {}

    def on_enabled(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize()
        calls["api"].get_workflow_state(ctx.parent.workflow.id)

    api = app.register(
        Builder.workflow("wf")
        .start_condition("s")
        .end_condition("e")
        .task("a", Builder.task("item").with_activities(on_enabled=on_enabled))
        .connect_condition("s", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("e"))
    ).api()
    calls["api"] = api
    with pytest.raises(tq.NestedCallError):
        api.internal_initialize_root_workflow()
    assert api.list_workflows() == []


def test_the_ctx_of_a_call_that_has_ended_is_refused_with_a_clear_error(app):
    api = app.register(xor_review()).api()
    workflow_id = api.internal_initialize_root_workflow()
    kept: list[tq.MutationContext] = []

    @app.mutation
    def keep(ctx: tq.MutationContext) -> None:
        kept.append(ctx)

    @app.mutation
    def later(ctx: tq.MutationContext) -> None:
        pass

    app.run_mutation(keep)
    (old,) = kept
    before = dump(app)
    with pytest.raises(tq.TransactionClosedError, match="internal_initialize_root_workflow"):
        api.internal_initialize_root_workflow(ctx=old)
    with pytest.raises(tq.TransactionClosedError, match="get_workflow_state"):
        api.get_workflow_state(workflow_id, ctx=old)
    with pytest.raises(tq.TransactionClosedError, match="later"):
        app.run_mutation(later, ctx=old)
    assert dump(app) == before
    assert issubclass(tq.TransactionClosedError, tq.TasquencerError)


def test_run_mutation_with_ctx_runs_inside_the_callers_transaction(app):
    api = app.register(xor_review()).api()

    @app.mutation
    def start_one(ctx: tq.MutationContext) -> str:
        return api.internal_initialize_root_workflow(ctx=ctx)

    class Boom(Exception):
        pass

    @app.mutation
    def outer(ctx: tq.MutationContext, fail: bool) -> str:
        workflow_id = app.run_mutation(start_one, ctx=ctx)
        assert api.get_workflow_state(workflow_id, ctx=ctx) == "started"
        if fail:
            raise Boom()
        return workflow_id

    with pytest.raises(Boom):
        app.run_mutation(outer, fail=True)
    assert api.list_workflows() == []
    workflow_id = app.run_mutation(outer, fail=False)
    assert api.get_workflow_state(workflow_id) == "started"


def _item_with_a_tied_job(app: tq.App, name: str, on_canceled: object) -> tq.WorkflowApi:
    """One task whose work item ties a job due in an hour when it is initialized."""

    @app.mutation(name=f"{name}.later")
    def later(ctx: tq.MutationContext) -> None:
        pass

    def initialize(ctx: tq.WorkItemActionContext, payload: object) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(3600, later))

    item = (
        Builder.work_item("item")
        .with_actions(Builder.work_item_actions().initialize(None, initialize))
        .with_activities(on_canceled=on_canceled)
    )
    return app.register(
        Builder.workflow(name)
        .start_condition("s")
        .end_condition("e")
        .task(
            "a", Builder.task(item).with_activities(on_enabled=lambda c: c.work_item.initialize())
        )
        .connect_condition("s", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("e"))
    ).api()


def test_a_rolled_back_teardown_does_not_cancel_the_jobs_tied_to_the_element(app):
    """The work item's cancellation queues the cancellation of its tied job, then its
    `on_canceled` raises: with the nested call rolled back, the job stays pending and tied."""

    class Boom(Exception):
        pass

    failing = [True]

    def on_canceled(ctx: tq.WorkItemActivityContext) -> None:
        if failing[0]:
            raise Boom()

    api = _item_with_a_tied_job(app, "rolled_back_teardown", on_canceled)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)

    @app.mutation
    def cancel_and_swallow(ctx: tq.MutationContext) -> None:
        with pytest.raises(Boom):
            api.internal_cancel_work_item(item.id, ctx=ctx)

    app.run_mutation(cancel_and_swallow)
    (job,) = app.list_jobs()
    assert job.state == "pending"
    assert api.get_work_item_state(item.id) == "initialized"
    # Still tied: canceling the work item for good cancels it.
    failing[0] = False
    api.internal_cancel_work_item(item.id)
    assert app.get_job(job.id).state == "canceled"


def test_a_job_scheduled_by_a_rolled_back_nested_call_cannot_be_tied_afterwards(app):
    """The job went with the savepoint: tying it later must find that it does not exist."""
    seen: list[str] = []

    def initialize(ctx: tq.WorkItemActionContext, payload: object) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(seen[0])

    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().initialize(None, initialize)
    )
    api = app.register(
        Builder.workflow("tie_later")
        .start_condition("s")
        .end_condition("e")
        .task("a", Builder.task(item))
        .connect_condition("s", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("e"))
    ).api()

    @app.mutation(name="tie_later.schedule_then_fail")
    def schedule_then_fail(ctx: tq.MutationContext) -> None:
        seen.append(ctx.scheduler.run_after(3600, schedule_then_fail))
        raise ValueError("undone")

    @app.mutation
    def outer(ctx: tq.MutationContext) -> None:
        workflow_id = api.internal_initialize_root_workflow(ctx=ctx)
        with pytest.raises(ValueError, match="undone"):
            app.run_mutation(schedule_then_fail, ctx=ctx)
        with pytest.raises(tq.JobNotFoundError):
            api.internal_initialize_work_item(
                tq.Target(("tie_later", "a", "item"), workflow_id, "a"), ctx=ctx
            )

    app.run_mutation(outer)
    assert app.list_jobs() == []
