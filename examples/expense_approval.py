"""Expense approval: employees, managers, finance and a payment agent, each working from a queue.

An employee submits an expense (the workflow's initialize action, allowed to holders of
`expenses:submit`). The manager approval is offered to the `managers` group; an approval of
more than 1000 goes on to finance (offered to holders of `expenses:finance:approve`), a
rejection back to the employee, who may revise the claim (offered to that employee alone: the
process loops, the approval gets generation 2). An approved expense is paid by an agent.

Starting a work item claims it for the user who starts it: the others no longer see it, and
only the claimant can complete it. A manager may not approve their own expense (a custom
policy reading the claim from the app's table).

Run it: `python examples/expense_approval.py`
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pydantic
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import tasquencer as tq
from tasquencer import Builder

EXPENSES = tq.scopes("expenses").scope("submit").scope("approve").scope("finance:approve")
FINANCE_THRESHOLD = 1000


@dataclass(frozen=True)
class Session:
    """What a web framework would give the user provider: who is signed in."""

    user_id: str


PEOPLE = {
    "erin": tq.User("erin", "Erin (engineer)"),
    "mia": tq.User("mia", "Mia (manager)"),
    "fred": tq.User("fred", "Fred (finance)"),
    "payments": tq.User("payments", "Payment agent", is_agent=True),
}


def signed_in(session: Session) -> tq.User | None:
    return PEOPLE.get(session.user_id)


AUTH = tq.Auth(get_user=signed_in, scopes=[EXPENSES])


class Base(DeclarativeBase):
    pass


class Claim(Base):
    __tablename__ = "expense_claims"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    employee: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))


class Expense(pydantic.BaseModel):
    amount: int = pydantic.Field(gt=0)
    description: str = pydantic.Field(min_length=1, max_length=500)


class Decision(pydantic.BaseModel):
    approve: bool


def claim_of(ctx: tq.TransactionContext, workflow_id: str) -> Claim:
    claim = ctx.db.get(Claim, workflow_id)
    if claim is None:
        raise LookupError(f"expense workflow {workflow_id} has no claim")
    return claim


# --- actions and policies --------------------------------------------------------------------


def submit(ctx: tq.WorkflowInitializeContext, expense: Expense) -> None:
    assert ctx.user is not None  # the policy requires a signed-in user
    workflow_id = ctx.workflow.initialize()
    ctx.db.add(
        Claim(workflow_id=workflow_id, employee=ctx.user.id, status="submitted", **dict(expense))
    )


def not_their_own(ctx: tq.AuthorizationContext) -> bool:
    """Nobody approves their own expense."""
    assert ctx.workflow is not None
    return ctx.user is not None and claim_of(ctx, ctx.workflow.id).employee != ctx.user.id


def the_employee(ctx: tq.AuthorizationContext) -> bool:
    assert ctx.workflow is not None
    return ctx.user is not None and claim_of(ctx, ctx.workflow.id).employee == ctx.user.id


def an_agent(ctx: tq.AuthorizationContext) -> bool:
    return ctx.user is not None and ctx.user.is_agent


def decide(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    claim_of(ctx, ctx.parent.workflow.id).status = "approved" if decision.approve else "rejected"
    ctx.work_item.complete()


def revise(ctx: tq.WorkItemActionContext, expense: Expense) -> None:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    claim.amount, claim.description, claim.status = expense.amount, expense.description, "submitted"
    ctx.work_item.complete()


def pay(ctx: tq.WorkItemActionContext, payload: None) -> None:
    claim_of(ctx, ctx.parent.workflow.id).status = "paid"
    ctx.work_item.complete()


# --- offers ----------------------------------------------------------------------------------


def to_managers(ctx: tq.WorkItemActivityContext) -> tq.Offer:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    return tq.Offer.to_group(
        "managers",
        title=f"Approve {claim.amount} for {claim.employee}: {claim.description}",
        priority=2 if claim.amount > FINANCE_THRESHOLD else 1,
        payload={"amount": claim.amount, "employee": claim.employee},
    )


def to_finance(ctx: tq.WorkItemActivityContext) -> tq.Offer:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    return tq.Offer.to_scope(
        "expenses:finance:approve",
        title=f"Review {claim.amount} for {claim.employee}",
        payload={"amount": claim.amount},
    )


def to_the_employee(ctx: tq.WorkItemActivityContext) -> tq.Offer:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    return tq.Offer.to_user(claim.employee, title=f"Revise your expense: {claim.description}")


def to_the_payment_agent(ctx: tq.WorkItemActivityContext) -> tq.Offer:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    return tq.Offer.to_agents(
        title=f"Pay {claim.amount} to {claim.employee}", payload={"amount": claim.amount}
    )


# --- the workflow ----------------------------------------------------------------------------


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def after_manager(ctx: tq.RouterContext) -> tq.Route:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    if claim.status == "rejected":
        return ctx.route.to_task("rework")
    return ctx.route.to_task("finance_review" if claim.amount > FINANCE_THRESHOLD else "payout")


def after_finance(ctx: tq.RouterContext) -> tq.Route:
    claim = claim_of(ctx, ctx.parent.workflow.id)
    return ctx.route.to_task("payout" if claim.status == "approved" else "rework")


manager = tq.all_policies(tq.require_scope("expenses:approve"), not_their_own)
finance = tq.require_scope("expenses:finance:approve")
approval = (
    Builder.work_item("approval")
    .with_offer(to_managers)
    .with_actions(
        Builder.work_item_actions().start(policy=manager).complete(Decision, decide, policy=manager)
    )
)
finance_review = (
    Builder.work_item("finance_review")
    .with_offer(to_finance)
    .with_actions(
        Builder.work_item_actions().start(policy=finance).complete(Decision, decide, policy=finance)
    )
)
rework = (
    Builder.work_item("rework")
    .with_offer(to_the_employee)
    .with_actions(
        Builder.work_item_actions()
        .start(policy=the_employee)
        .complete(Expense, revise, policy=the_employee)
    )
)
payout = (
    Builder.work_item("payout")
    .with_offer(to_the_payment_agent)
    .with_actions(
        Builder.work_item_actions().start(policy=an_agent).complete(None, pay, policy=an_agent)
    )
)


def task(item: tq.builder.WorkItemBuilder) -> tq.builder.TaskBuilder:
    return Builder.task(item).with_activities(on_enabled=one_work_item)


expense = (
    Builder.workflow("expense")
    .with_actions(
        Builder.workflow_actions().initialize(
            Expense, submit, policy=tq.require_scope("expenses:submit")
        )
    )
    .start_condition("start")
    .end_condition("end")
    .task("manager_approval", task(approval).with_join_type("xor").with_split_type("xor"))
    .task("finance_review", task(finance_review).with_split_type("xor"))
    .task("rework", task(rework).with_join_type("xor"))
    .task("payout", task(payout).with_join_type("xor"))
    .connect_condition("start", lambda to: to.task("manager_approval"))
    .connect_task(
        "manager_approval",
        lambda to: to.task("finance_review").task("payout").task("rework").route(after_manager),
    )
    .connect_task(
        "finance_review", lambda to: to.task("payout").task("rework").route(after_finance)
    )
    .connect_task("rework", lambda to: to.task("manager_approval"))
    .connect_task("payout", lambda to: to.condition("end"))
)


def build(app: tq.App) -> tq.WorkflowApi:
    """Create the app's table, register the workflow and set up who is who (once)."""
    Base.metadata.create_all(app.engine)
    api = app.register(tq.versions("expense").version("v1", expense)).api("v1")
    if app.auth.get_role("employee") is None:
        app.auth.create_role("employee", ["expenses:submit"])
        app.auth.create_role("manager", ["expenses:submit", "expenses:approve"])
        app.auth.create_role("finance", ["expenses:submit", "expenses:finance:approve"])
        for group, role, members in (
            ("staff", "employee", ["erin"]),
            ("managers", "manager", ["mia"]),
            ("finance", "finance", ["fred"]),
        ):
            app.auth.create_group(group)
            app.auth.assign_role(role, group=group)
            for member in members:
                app.auth.add_member(group, member)
    return api


def queue_of(app: tq.App, who: str) -> list[tq.QueueItem]:
    """What a person (or the payment agent) sees in the UI."""
    if PEOPLE[who].is_agent:
        return app.queues.available_for_agents()
    return app.queues.available_for(Session(who))


def work_on(app: tq.App, api: tq.WorkflowApi, who: str, payload: object = None) -> tq.QueueItem:
    """Take the first item of `who`'s queue (starting claims it) and finish it."""
    first = queue_of(app, who)[0]
    api.start_work_item(first.work_item_id, user=Session(who))
    api.complete_work_item(first.work_item_id, payload, user=Session(who))
    return first


def show(app: tq.App) -> None:
    for who in PEOPLE:
        titles = [item.title for item in queue_of(app, who)]
        print(f"  {who:9} {titles}")


def main(database: Path | None = None) -> dict[str, str]:
    """Two expenses through the process; returns each claim's final status."""
    database = database or Path(tempfile.mkdtemp()) / "expenses.db"
    with tq.App(f"sqlite:///{database}", auth=AUTH) as app:
        api = build(app)
        lunch = api.initialize_root_workflow(
            {"amount": 80, "description": "team lunch"}, user=Session("erin")
        )
        laptop = api.initialize_root_workflow(
            {"amount": 1800, "description": "laptop"}, user=Session("erin")
        )
        print("submitted; the queues:")
        show(app)
        work_on(app, api, "mia", {"approve": True})  # the laptop first: higher priority
        work_on(app, api, "mia", {"approve": True})
        print("the manager approved both; the queues:")
        show(app)
        work_on(app, api, "fred", {"approve": False})
        work_on(app, api, "payments")
        print("finance sent the laptop back, the lunch was paid; the queues:")
        show(app)
        work_on(app, api, "erin", {"amount": 1400, "description": "laptop (refurbished)"})
        work_on(app, api, "mia", {"approve": True})
        work_on(app, api, "fred", {"approve": True})
        work_on(app, api, "payments")
        with app.transaction() as tx:
            statuses = {
                claim.description: claim.status
                for claim in (tx.session.get(Claim, lunch), tx.session.get(Claim, laptop))
                if claim is not None
            }
        print("done:", statuses, api.get_workflow_state(lunch), api.get_workflow_state(laptop))
        return statuses


if __name__ == "__main__":
    main()
