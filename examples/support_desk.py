"""A support desk served over HTTP, with the debugger: `tasquencer serve`.

A ticket is triaged: a simple question is answered; a serious one is escalated to an
investigation (a child workflow: reproduce, then fix) while the customer is kept informed, and
resolved when both are done. Until it is closed, the customer may withdraw the ticket: that
cancels whatever work is open (a cancellation region); closing the ticket in turn takes the
withdrawal off the table (a second region). The ticket lives in the user's own table
(`support_tickets`), kept in sync by the actions in the same transaction.

Each step is offered to whoever should do it, and shows in their work queue: triage and answers
to holders of the `desk:*` scopes (the "support" role), the investigation to the "engineering"
group, keeping the customer informed to an AI agent. Triage is guarded by a policy: only a
holder of `desk:triage` may take it on or decide it. Who is calling comes from the request:
here an `X-User` header or a `user` cookie naming one of the staff below (a real deployment
reads a verified session or token in `user_of`).

Every step is a public action with a pydantic payload, so each one is an HTTP route:

    python examples/support_desk.py            # a few tickets in different stages
    tasquencer serve --app examples.support_desk:app
    # http://127.0.0.1:8000/debugger   the cases, each drawn as its graph
    # http://127.0.0.1:8000/docs       the HTTP API, generated from the payload models
    # in the browser's console, to act as Ada of support: document.cookie = "user=ada"

The database is `support_desk.db` in the working folder (or `$SUPPORT_DESK_DATABASE`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

import pydantic
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.requests import Request

import tasquencer as tq
from tasquencer import Builder
from tasquencer.builder import CancellationRegionBuilder, TaskBuilder, WorkItemActionsBuilder


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    __tablename__ = "support_tickets"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    customer: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(10), default=None)
    status: Mapped[str] = mapped_column(String(40), default="new")
    answer: Mapped[str | None] = mapped_column(Text, default=None)


class Investigation(Base):
    """Which ticket an investigation (a child workflow) belongs to."""

    __tablename__ = "support_investigations"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(32))


# --- who works here ---------------------------------------------------------------------------

DESK = (
    tq.scopes("desk")
    .scope("triage", description="Decide how serious a ticket is")
    .scope("answer", description="Reply to customers")
)
TRIAGE = tq.require_scope("desk:triage")

STAFF = {
    user.id: user
    for user in (
        tq.User("ada", "Ada (support)"),
        tq.User("grace", "Grace (support)"),
        tq.User("linus", "Linus (engineering)"),
        tq.User("scribe", "Scribe (an AI agent)", is_agent=True),
    )
}


def user_of(request: Request) -> tq.User | None:
    """The member of staff an HTTP request comes from (None: nobody signed in)."""
    name = request.headers.get("x-user") or request.cookies.get("user")
    return STAFF.get(name) if name else None


def hire_staff(app: tq.App) -> None:
    """Ada and Grace hold the support role, Linus is in engineering (kept as they are when
    already there)."""
    if app.auth.get_role("support") is None:
        app.auth.create_role("support", ["desk:triage", "desk:answer"])
    if app.auth.get_group("engineering") is None:
        app.auth.create_group("engineering", description="Investigates defects")
    for user_id in ("ada", "grace"):
        app.auth.set_user_roles(user_id, ["support"])
    app.auth.set_user_groups("linus", ["engineering"])


# --- the payloads ------------------------------------------------------------------------------


NO_NUL = r"^[^\x00]*$"  # text a database stores (PostgreSQL refuses NUL characters)


class NewTicket(pydantic.BaseModel):
    subject: str = pydantic.Field(min_length=1, max_length=200, pattern=NO_NUL)
    customer: str = pydantic.Field(min_length=1, max_length=200, pattern=NO_NUL)


class Triage(pydantic.BaseModel):
    severity: Literal["low", "high"]


class Answer(pydantic.BaseModel):
    text: str = pydantic.Field(min_length=1, max_length=10_000, pattern=NO_NUL)


class Note(pydantic.BaseModel):
    note: str = pydantic.Field(default="", max_length=10_000, pattern=NO_NUL)


class Withdrawal(pydantic.BaseModel):
    reason: str = pydantic.Field(default="", max_length=1_000, pattern=NO_NUL)


def ticket_of(ctx: tq.TransactionContext, workflow_id: str) -> Ticket:
    """The ticket of one support case (a root workflow), read in the running transaction."""
    ticket = ctx.db.get(Ticket, workflow_id)
    if ticket is None:
        raise LookupError(f"support case {workflow_id} has no ticket")
    return ticket


def root_of(ctx: tq.WorkItemActionContext) -> str:
    """The support case a work item belongs to: its workflow, or the case of an investigation."""
    workflow_id = ctx.parent.workflow.id
    investigation = ctx.db.get(Investigation, workflow_id)
    return investigation.ticket_id if investigation is not None else workflow_id


# --- the actions -------------------------------------------------------------------------------


def open_ticket(ctx: tq.WorkflowInitializeContext, ticket: NewTicket) -> None:
    workflow_id = ctx.workflow.initialize()
    ctx.db.add(Ticket(workflow_id=workflow_id, subject=ticket.subject, customer=ticket.customer))


def take(ctx: tq.WorkItemActionContext, payload: None) -> None:
    """Someone takes the work item on (a public start action)."""
    ctx.work_item.start()


def triage(ctx: tq.WorkItemActionContext, decision: Triage) -> None:
    ticket = ticket_of(ctx, root_of(ctx))
    ticket.severity = decision.severity
    ticket.status = "answering" if decision.severity == "low" else "escalated"
    ctx.work_item.complete()


def answer(ctx: tq.WorkItemActionContext, reply: Answer) -> None:
    ticket = ticket_of(ctx, root_of(ctx))
    ticket.answer, ticket.status = reply.text, "answered"
    ctx.work_item.complete()


def note_and_complete(ctx: tq.WorkItemActionContext, note: Note) -> None:
    if note.note:
        ticket = ticket_of(ctx, root_of(ctx))
        ticket.answer = f"{ticket.answer or ''}\n{note.note}".strip()
    ctx.work_item.complete()


def withdraw(ctx: tq.WorkItemActionContext, withdrawal: Withdrawal) -> None:
    ticket_of(ctx, root_of(ctx)).status = "withdrawn"
    ctx.work_item.complete()


def closed(ctx: tq.WorkflowTeardownContext) -> None:
    ticket = ticket_of(ctx, ctx.workflow.id)
    if ticket.status != "withdrawn":
        ticket.status = "closed"


def route_by_severity(ctx: tq.RouterContext) -> tq.Route:
    ticket = ticket_of(ctx, ctx.parent.workflow.id)
    return ctx.route.to_task("answer" if ticket.severity == "low" else "escalate")


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def start_investigation(ctx: tq.CompositeTaskActivityContext) -> None:
    child_id = ctx.workflow.initialize()
    ctx.db.add(Investigation(workflow_id=child_id, ticket_id=ctx.parent.workflow.id))


OfferFor = Callable[[tq.WorkItemActivityContext], tq.Offer]


def offered_to(kind: Literal["scope", "agents"], target: str, verb: str) -> OfferFor:
    """An offer of a ticket's work item to holders of a scope or to agents, titled with the
    ticket's subject, serious tickets first."""

    def offer(ctx: tq.WorkItemActivityContext) -> tq.Offer:
        ticket = ticket_of(ctx, ctx.parent.workflow.id)
        title = f"{verb}: {ticket.subject}"
        priority = 1 if ticket.severity == "high" else 0
        if kind == "scope":
            return tq.Offer.to_scope(target, title=title, priority=priority)
        return tq.Offer.to_agents(title=title, priority=priority)

    return offer


# --- the process -------------------------------------------------------------------------------


def human_step(
    name: str,
    complete: WorkItemActionsBuilder,
    offer: tq.Offer | OfferFor | None = None,
    policy: tq.AccessPolicy | None = None,
) -> TaskBuilder:
    """A task with one work item that a person takes on and then completes."""
    item = Builder.work_item(name).with_actions(complete.start(None, take, policy=policy))
    if offer is not None:
        item = item.with_offer(offer)
    return Builder.task(item).with_activities(on_enabled=one_work_item)


def actions() -> WorkItemActionsBuilder:
    return Builder.work_item_actions()


def engineering_step(name: str, verb: str) -> TaskBuilder:
    complete = actions().complete(Note, note_and_complete)
    # An investigation's work items are created as it starts, before it is linked to its
    # ticket (start_investigation), so their offer does not name the ticket.
    return human_step(name, complete, tq.Offer.to_group("engineering", title=f"{verb} a defect"))


investigation = (
    Builder.workflow("investigation")
    .start_condition("start")
    .end_condition("end")
    .task("reproduce", engineering_step("reproduce", "Reproduce"))
    .task("fix", engineering_step("fix", "Fix"))
    .connect_condition("start", lambda to: to.task("reproduce"))
    .connect_task("reproduce", lambda to: to.task("fix"))
    .connect_task("fix", lambda to: to.condition("end"))
)

WORK = ("triage", "answer", "escalate", "investigate", "keep_informed", "resolve", "close")

FLOWS = (
    ("triage", "answer"),
    ("triage", "escalate"),
    ("answer", "close"),
    ("escalate", "investigate"),
    ("escalate", "keep_informed"),
    ("investigate", "resolve"),
    ("keep_informed", "resolve"),
    ("resolve", "close"),
)


def work_region(cr: CancellationRegionBuilder) -> None:
    """Withdrawing cancels every open step of the work and the tokens between them."""
    cr.condition("open")
    for task in WORK:
        cr.task(task)
    for source, target in FLOWS:
        cr.condition(f"{source}__to__{target}")


support_ticket = (
    Builder.workflow("support_ticket")
    .with_actions(Builder.workflow_actions().initialize(NewTicket, open_ticket))
    .with_activities(on_completed=closed)
    .start_condition("start")
    .condition("open")
    .condition("withdrawable")
    .end_condition("end")
    .dummy_task("receive", Builder.dummy_task().with_split_type("and"))
    .task(
        "triage",
        human_step(
            "triage",
            actions().complete(Triage, triage, policy=TRIAGE),
            offered_to("scope", "desk:triage", "Triage"),
            policy=TRIAGE,
        ).with_split_type("xor"),
    )
    .task(
        "answer",
        human_step(
            "answer",
            actions().complete(Answer, answer),
            offered_to("scope", "desk:answer", "Answer"),
        ),
    )
    .dummy_task("escalate", Builder.dummy_task().with_split_type("and"))
    .composite_task(
        "investigate",
        Builder.composite_task(investigation).with_activities(on_enabled=start_investigation),
    )
    .task(
        "keep_informed",
        human_step(
            "keep_informed",
            actions().complete(Note, note_and_complete),
            offered_to("agents", "", "Keep the customer informed"),
        ),
    )
    .task(
        "resolve",
        human_step(
            "resolve",
            actions().complete(Note, note_and_complete),
            offered_to("scope", "desk:answer", "Resolve"),
        ).with_join_type("and"),
    )
    .dummy_task("close", Builder.dummy_task().with_join_type("xor"))
    .task("withdraw", human_step("withdraw", actions().complete(Withdrawal, withdraw)))
    .connect_condition("start", lambda to: to.task("receive"))
    .connect_task("receive", lambda to: to.condition("open").condition("withdrawable"))
    .connect_condition("open", lambda to: to.task("triage"))
    .connect_condition("withdrawable", lambda to: to.task("withdraw"))
    .connect_task("triage", lambda to: to.task("answer").task("escalate").route(route_by_severity))
    .connect_task("answer", lambda to: to.task("close"))
    .connect_task("escalate", lambda to: to.task("investigate").task("keep_informed"))
    .connect_task("investigate", lambda to: to.task("resolve"))
    .connect_task("keep_informed", lambda to: to.task("resolve"))
    .connect_task("resolve", lambda to: to.task("close"))
    .connect_task("close", lambda to: to.condition("end"))
    .connect_task("withdraw", lambda to: to.condition("end"))
    .with_cancellation_region("withdraw", work_region)
    .with_cancellation_region("close", lambda cr: cr.task("withdraw").condition("withdrawable"))
)


def build(app: tq.App) -> tq.WorkflowApi:
    """Register the process on `app` (made with `auth=AUTH`) and hire the staff."""
    Base.metadata.create_all(app.engine)
    hire_staff(app)
    return app.register(tq.versions("support_ticket").version("v1", support_ticket)).api("v1")


AUTH = tq.Auth(get_user=user_of, scopes=[DESK])
app = tq.App(f"sqlite:///{os.environ.get('SUPPORT_DESK_DATABASE', 'support_desk.db')}", auth=AUTH)
api = build(app)

WHO = {"triage": "ada", "answer": "grace", "reproduce": "linus", "withdraw": "ada"}


def step(api: tq.WorkflowApi, workflow_id: str, task: str, payload: object = None) -> None:
    """The member of staff for `task` takes on its open work item (claiming it) and completes
    it with `payload`."""
    (item,) = api.list_work_items(workflow_id, task_name=task, state="initialized")
    user = STAFF[WHO[task]]
    api.start_work_item(item.id, user=user)
    api.complete_work_item(item.id, payload, user=user)


def seed(api: tq.WorkflowApi) -> dict[str, str]:
    """Four tickets, each stopped at a different stage: what the debugger shows first."""
    new = api.initialize_root_workflow({"subject": "Cannot log in", "customer": "ada"})
    answered = api.initialize_root_workflow({"subject": "Invoice copy", "customer": "grace"})
    step(api, answered, "triage", {"severity": "low"})
    step(api, answered, "answer", {"text": "Attached to this reply."})
    escalated = api.initialize_root_workflow({"subject": "Data export fails", "customer": "alan"})
    step(api, escalated, "triage", {"severity": "high"})
    (child,) = api.list_child_workflows(escalated, "investigate")
    step(api, child.id, "reproduce", {"note": "fails for exports over 2 GB"})
    withdrawn = api.initialize_root_workflow({"subject": "Upgrade question", "customer": "edsger"})
    step(api, withdrawn, "triage", {"severity": "high"})
    step(api, withdrawn, "withdraw", {"reason": "found it in the docs"})
    return {"new": new, "answered": answered, "escalated": escalated, "withdrawn": withdrawn}


if __name__ == "__main__":
    for stage, workflow_id in seed(api).items():
        print(f"{stage:>10}: {workflow_id} ({api.get_workflow_state(workflow_id)})")
    print("now: tasquencer serve --app examples.support_desk:app")
