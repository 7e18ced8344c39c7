"""Mistakes mypy must catch: each line marked `type: ignore[code]` must be an error of that
code (checked with `warn_unused_ignores`, so a line that stops being an error fails the check).

Checked by tests/test_typing.py; never run.
"""

from __future__ import annotations

import pydantic

import tasquencer as tq
from tasquencer import Builder


class Decision(pydantic.BaseModel):
    approve: bool


class Other(pydantic.BaseModel):
    reason: str


def record(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    ctx.work_item.complete()


def wrong_context(ctx: tq.WorkflowActivityContext, decision: Decision) -> None:
    pass


def activity(ctx: tq.TaskActivityContext) -> None:
    pass


def changed(ctx: tq.WorkItemStateChangedContext) -> None:
    pass


def composite_activity(ctx: tq.CompositeTaskActivityContext) -> None:
    pass


actions = Builder.work_item_actions()
actions.complete(Other, record)  # type: ignore[arg-type]
actions.complete(Decision, wrong_context)  # type: ignore[arg-type]
Builder.task("x").with_activities(on_enabled=changed)  # type: ignore[arg-type]
Builder.task("x").with_activities(on_enabled=composite_activity)  # type: ignore[arg-type]
Builder.task("x").with_activities(on_work_item_state_changed=activity)  # fine: a wider ctx


def activity_uses_missing(ctx: tq.TaskActivityContext) -> None:
    ctx.workflow.initialize()  # type: ignore[attr-defined]
    print(ctx.work_item.id)  # type: ignore[attr-defined]


def policy_returns_text(ctx: tq.TaskPolicyContext) -> str:
    return "complete"


Builder.task("x").with_policy(policy_returns_text)  # type: ignore[arg-type]


def router_returns_name(ctx: tq.RouterContext) -> str:
    return "publish"


Builder.workflow("w").connect_task("a", lambda to: to.task("b").route(router_returns_name))  # type: ignore[arg-type]


def teardown_registers(ctx: tq.DummyTaskActivityContext) -> None:
    ctx.register_scheduled("job")  # type: ignore[attr-defined]


app = tq.App("sqlite:///typing.db")
api = app.register(Builder.workflow("w")).api()
api.complete_work_item(1, 2, 3, nonsense=4)  # type: ignore[call-arg, arg-type]
api.complete_work_item(1)  # type: ignore[arg-type]
api.get_workflow_state("id", "extra")  # type: ignore[call-arg, arg-type]
api.get_workflow_state_at("id", "2026-12-01")  # type: ignore[arg-type]
number: int = api.initialize_root_workflow()  # type: ignore[assignment]


@app.mutation
def add(ctx: tq.MutationContext, n: int) -> int:
    return n + 1


text: str = app.run_mutation(add, n=1)  # type: ignore[assignment]


@app.action
def act(ctx: tq.ActionContext) -> None:
    api.get_workflow_state("id", ctx=ctx)  # type: ignore[arg-type]


def query(ctx: tq.QueryContext) -> None:
    ctx.scheduler.run_after(1, "x")  # type: ignore[attr-defined]


def teardown_registers_a_job(ctx: tq.TaskTeardownContext) -> None:
    ctx.register_scheduled("job")  # type: ignore[attr-defined]
    ctx.work_item.initialize()  # type: ignore[attr-defined]


def item_teardown(ctx: tq.WorkItemTeardownContext) -> None:
    ctx.work_item.start()  # type: ignore[attr-defined]


def workflow_started(ctx: tq.WorkflowActivityContext) -> None:
    pass


Builder.workflow("w").with_activities(on_completed=workflow_started)  # type: ignore[arg-type]
Builder.task("x").with_activities(on_completed=activity)  # type: ignore[arg-type]


def a_command_in_a_query(ctx: tq.QueryContext) -> None:
    api.internal_cancel_workflow("id", ctx=ctx)  # type: ignore[arg-type]


@app.mutation  # type: ignore[type-var]
def mutation_with_an_action_ctx(ctx: tq.ActionContext) -> None:
    pass


@app.action  # type: ignore[type-var]
def action_with_a_mutation_ctx(ctx: tq.MutationContext) -> None:
    pass


def schedule_a_number(ctx: tq.MutationContext) -> None:
    ctx.scheduler.run_after(0, 42)  # type: ignore[arg-type]


def policy_says_allow(ctx: tq.AuthorizationContext) -> str:
    return "allow"


def policy_of_a_task(ctx: tq.TaskActivityContext) -> bool:
    return True


def offer_from_a_task(ctx: tq.TaskActivityContext) -> tq.Offer:
    return tq.Offer.to_agents()


Builder.work_item_actions().start(policy=policy_says_allow)  # type: ignore[arg-type]
Builder.work_item_actions().start(policy=policy_of_a_task)  # type: ignore[arg-type]
Builder.work_item_actions().start()  # type: ignore[call-overload]
Builder.work_item("x").with_offer("ann")  # type: ignore[arg-type]
Builder.work_item("x").with_offer(offer_from_a_task)  # type: ignore[arg-type]
tq.Offer.to_scope("er:x", priority="high")  # type: ignore[arg-type]
tq.require_any_scope(["er:x"])  # type: ignore[arg-type]
tq.App("sqlite:///x.db", audit=True)  # type: ignore[arg-type]
