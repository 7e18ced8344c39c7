"""A support desk served over HTTP, with the debugger: `tasquencer serve`.

A ticket is triaged: a simple question is answered; a serious one is escalated to an
investigation (a child workflow: reproduce, then fix) while the customer is kept informed, and
resolved when both are done. Until it is closed, the customer may withdraw the ticket: that
cancels whatever work is open (a cancellation region); closing the ticket in turn takes the
withdrawal off the table (a second region). The ticket lives in the user's own table
(`support_tickets`), kept in sync by the actions in the same transaction.

Every step is a public action with a pydantic payload, so each one is an HTTP route:

    python examples/support_desk.py            # a few tickets in different stages
    tasquencer serve --app examples.support_desk:app
    # http://127.0.0.1:8000/debugger   the cases, each drawn as its graph
    # http://127.0.0.1:8000/docs       the HTTP API, generated from the payload models

The database is `support_desk.db` in the working folder (or `$SUPPORT_DESK_DATABASE`).
"""

from __future__ import annotations

import os
from typing import Literal

import pydantic
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


# --- the payloads ------------------------------------------------------------------------------


class NewTicket(pydantic.BaseModel):
    subject: str = pydantic.Field(min_length=1, max_length=200)
    customer: str = pydantic.Field(min_length=1, max_length=200)


class Triage(pydantic.BaseModel):
    severity: Literal["low", "high"]


class Answer(pydantic.BaseModel):
    text: str = pydantic.Field(min_length=1, max_length=10_000)


class Note(pydantic.BaseModel):
    note: str = pydantic.Field(default="", max_length=10_000)


class Withdrawal(pydantic.BaseModel):
    reason: str = pydantic.Field(default="", max_length=1_000)


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


# --- the process -------------------------------------------------------------------------------


def human_step(name: str, complete: WorkItemActionsBuilder) -> TaskBuilder:
    """A task with one work item that a person takes on and then completes."""
    item = Builder.work_item(name).with_actions(complete.start(None, take))
    return Builder.task(item).with_activities(on_enabled=one_work_item)


def actions() -> WorkItemActionsBuilder:
    return Builder.work_item_actions()


investigation = (
    Builder.workflow("investigation")
    .start_condition("start")
    .end_condition("end")
    .task("reproduce", human_step("reproduce", actions().complete(Note, note_and_complete)))
    .task("fix", human_step("fix", actions().complete(Note, note_and_complete)))
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
        human_step("triage", actions().complete(Triage, triage)).with_split_type("xor"),
    )
    .task("answer", human_step("answer", actions().complete(Answer, answer)))
    .dummy_task("escalate", Builder.dummy_task().with_split_type("and"))
    .composite_task(
        "investigate",
        Builder.composite_task(investigation).with_activities(on_enabled=start_investigation),
    )
    .task("keep_informed", human_step("keep_informed", actions().complete(Note, note_and_complete)))
    .task(
        "resolve",
        human_step("resolve", actions().complete(Note, note_and_complete)).with_join_type("and"),
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
    Base.metadata.create_all(app.engine)
    return app.register(tq.versions("support_ticket").version("v1", support_ticket)).api("v1")


app = tq.App(f"sqlite:///{os.environ.get('SUPPORT_DESK_DATABASE', 'support_desk.db')}")
api = build(app)


def step(api: tq.WorkflowApi, workflow_id: str, task: str, payload: object = None) -> None:
    """Take on the open work item of `task` and complete it with `payload`."""
    (item,) = api.list_work_items(workflow_id, task_name=task, state="initialized")
    api.start_work_item(item.id)
    api.complete_work_item(item.id, payload)


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
