"""Code a user writes against the public API: it must pass `mypy --strict` as it is.

Checked by tests/test_typing.py; never run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import pydantic

import tasquencer as tq
from tasquencer import Builder


class Decision(pydantic.BaseModel):
    approve: bool


def record(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    assert ctx.parent.task.name
    if decision.approve:
        ctx.work_item.complete()


def no_payload(ctx: tq.WorkItemActionContext, payload: None) -> None:
    ctx.work_item.initialize()


def choice(ctx: tq.WorkItemActionContext, payload: Literal["yes", "no"]) -> None:
    ctx.work_item.complete()


def optional(ctx: tq.WorkItemActionContext, payload: int | None) -> None:
    ctx.work_item.fail()


def anything(ctx: tq.WorkItemActionContext, payload: Any) -> None:
    ctx.work_item.cancel()


more_actions = (
    Builder.work_item_actions()
    .complete(Literal["yes", "no"], choice)
    .fail(int | None, optional)
    .cancel(Any, anything)
)


def start_at_once(ctx: tq.WorkItemActivityContext) -> None:
    ctx.work_item.start()


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize({"for": ctx.parent.workflow.id})
    ctx.register_scheduled(ctx.scheduler.run_after(timedelta(hours=1), "reminder"))


def item_changed(ctx: tq.WorkItemStateChangedContext) -> None:
    print(ctx.work_item.id, ctx.work_item.prev_state, ctx.work_item.next_state)


def child_changed(ctx: tq.ChildWorkflowStateChangedContext) -> None:
    print(ctx.workflow.id, ctx.workflow.next_state, ctx.task.get_stats().completed)


def start_children(ctx: tq.DynamicCompositeTaskActivityContext) -> None:
    ctx.workflow.initialize["review"]({"x": 1})
    ctx.workflow.initialize.review()


def shared_helper(ctx: tq.InWorkflowContext) -> str:
    """Usable from work item actions, task activities, routers and policies alike."""
    return ctx.parent.workflow.id


def teardown(ctx: tq.TaskTeardownContext) -> None:
    print(shared_helper(ctx), ctx.work_item.get_all_work_item_ids())


def choose(ctx: tq.RouterContext) -> tq.Route:
    return ctx.route.to_task("publish")


def choose_some(ctx: tq.RouterContext) -> list[tq.Route]:
    return [ctx.route.to_task("publish"), ctx.route.to_condition("c")]


def wait_for_two(ctx: tq.TaskPolicyContext) -> tq.PolicyDecision:
    if ctx.transition.next_state == "completed" and ctx.task.get_stats().completed >= 2:
        return "complete"
    return tq.default_task_policy(ctx)


def workflow_started(ctx: tq.WorkflowActivityContext) -> None:
    print(ctx.workflow.id, ctx.parent.task.name if ctx.parent else None, ctx.execution_mode)


def create(ctx: tq.WorkflowInitializeContext, payload: dict[str, int]) -> None:
    ctx.workflow.initialize()


review = (
    Builder.work_item("review")
    .with_actions(
        Builder.work_item_actions().initialize(None, no_payload).complete(Decision, record)
    )
    .with_activities(on_initialized=start_at_once, on_completed=lambda ctx: None)
)
child = Builder.workflow("review").start_condition("s").end_condition("e")
workflow = (
    Builder.workflow("approval")
    .with_actions(Builder.workflow_actions().initialize(dict[str, int], create))
    .with_activities(on_started=workflow_started)
    .start_condition("start")
    .end_condition("end")
    .task(
        "review",
        Builder.task(review)
        .with_split_type("xor")
        .with_policy(wait_for_two)
        .with_activities(
            on_enabled=one_work_item,
            on_work_item_state_changed=item_changed,
            on_completed=teardown,
            on_canceled=shared_helper,  # a helper on a wider ctx fits anywhere
        ),
    )
    .composite_task(
        "legal",
        Builder.composite_task(child).with_activities(on_workflow_state_changed=child_changed),
    )
    .dynamic_composite_task(
        "checks", Builder.dynamic_composite_task([child]).with_activities(on_enabled=start_children)
    )
    .connect_condition("start", lambda to: to.task("review"))
    .connect_task("review", lambda to: to.task("publish").route(choose))
    .connect_task("legal", lambda to: to.condition("end"))
)

app = tq.App("sqlite:///typing.db")
api = app.register(tq.versions("approval").version("v1", workflow)).api("v1")


@app.mutation
def open_case(ctx: tq.MutationContext, title: str) -> str:
    workflow_id = api.initialize_root_workflow({"n": len(title)}, ctx=ctx)
    ctx.scheduler.run_after(60, api.internal_cancel_root_workflow, workflow_id=workflow_id)
    return workflow_id


@app.action(retry=tq.Retry(attempts=3))
def callback(ctx: tq.ActionContext, work_item_id: str) -> None:
    ctx.run_mutation(api.internal_complete_work_item, work_item_id=work_item_id)


@app.action
async def callback_async(ctx: tq.AsyncActionContext, work_item_id: str) -> None:
    await ctx.run_mutation(api.internal_complete_work_item, work_item_id=work_item_id)


case_id: str = app.run_mutation(open_case, title="x")
state: tq.records.WorkflowState = api.get_workflow_state(case_id)
items: list[tq.WorkItem] = api.list_work_items(case_id, task_name="review")
snapshot: tq.WorkflowSnapshot = api.get_workflow_snapshot(case_id)
structure: tq.WorkflowStructure = api.get_workflow_structure()
history: list[tq.HistoryEvent] = api.get_workflow_history(case_id)
spans: list[tq.TraceSpan] = api.get_trace_spans(case_id)
then: tq.WorkflowSnapshot = api.get_workflow_state_at(case_id, history[0].at)
tasks = [task["name"] for task in structure["tasks"]]
api.complete_work_item(items[0].id, {"approve": True})


# --- authorization and work queues -----------------------------------------------------------


class Request:
    def __init__(self, token: str) -> None:
        self.token = token


def user_of(request: Request) -> tq.User | None:
    return tq.User(request.token, attributes={"team": "er"}) if request.token else None


def only_owner(ctx: tq.AuthorizationContext) -> bool:
    return ctx.user is not None and ctx.claimed_by in (None, ctx.user.id)


def offer_of(ctx: tq.WorkItemActivityContext) -> tq.Offer | None:
    return tq.Offer.to_group("nurses", title=ctx.work_item.name, payload={"bed": 3})


def offer_in_action(ctx: tq.WorkItemActionContext, payload: None) -> None:
    ctx.work_item.offer(tq.Offer.to_agents(priority=2))


er = tq.scopes("er").scope("triage:write", description="Triage").module(tq.scopes("x").scope("y"))
secured = (
    Builder.work_item("triage")
    .with_offer(offer_of)
    .with_actions(
        Builder.work_item_actions()
        .initialize(None, offer_in_action, policy=tq.require_scope("er:triage:write"))
        .start(policy=tq.any_policy(tq.require_any_scope("er:x:y"), only_owner))
        .complete(Decision, record, policy=tq.all_policies(only_owner))
    )
)
also_secured = Builder.work_item("check").with_offer(tq.Offer.to_scope("er:x:y"))
guarded_workflow = Builder.workflow("guarded").with_actions(
    Builder.workflow_actions()
    .initialize(policy=tq.require_all_scopes("er:x:y"))
    .cancel(policy=only_owner)
)
secure_app = tq.App("sqlite:///secure.db", auth=tq.Auth(get_user=user_of, scopes=[er]))
audited_app = tq.App("sqlite:///audited.db", audit=tq.Audit(include_payloads=True))
quiet_app = tq.App("sqlite:///quiet.db", audit=None)
secure_app.auth.create_role("nurse", ["er:triage:write"])
secure_app.auth.assign_role("nurse", group="nurses", assigned_by="admin")
member: tq.Membership = secure_app.auth.add_member("nurses", "ann")
held: frozenset[str] = secure_app.auth.scopes_of("ann")
queue: list[tq.QueueItem] = secure_app.queues.available_for(Request("ann"), limit=20)
claimed: tq.QueueItem = secure_app.queues.claim(queue[0].work_item_id, user=tq.User("ann"))
mine = secure_app.queues.claimed_by(Request("ann"), workflow_name="approval", after=None)
api.start_work_item(claimed.work_item_id, user=Request("ann"))
api.list_work_items(case_id, user=tq.User("ann"))
app.run_mutation(open_case, title="x", user=tq.User("ann"))
