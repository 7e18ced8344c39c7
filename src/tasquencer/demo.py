"""`tasquencer demo`: a document review process, end to end, on an embedded SQLite file.

An agent drafts a document; a human reviews it and either asks for a revision (the process loops
back, and the draft task gets a new generation) or approves it; approval starts a legal review
(a child workflow: check the terms, then sign off) in parallel with the preparation of the
release; when both are done the document is published. The document itself lives in the user's
own table (`demo_documents`), kept in sync by activities through `ctx.db`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pydantic
from rich.console import Console
from rich.table import Table
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import tasquencer as tq
from tasquencer import Builder


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "demo_documents"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(40), default="new")


class Draft(pydantic.BaseModel):
    text: str


class Decision(pydantic.BaseModel):
    verdict: Literal["approve", "revise"]
    comment: str = ""


class NewDocument(pydantic.BaseModel):
    title: str


def _document(ctx: tq.TransactionContext, workflow_id: str) -> Document:
    """The document of one review process, read in the running transaction."""
    document = ctx.db.get(Document, workflow_id)
    if document is None:
        raise LookupError(f"workflow {workflow_id} has no document")
    return document


# --- work items ------------------------------------------------------------------------------


def _complete_draft(ctx: tq.WorkItemActionContext, draft: Draft) -> None:
    document = _document(ctx, ctx.parent.workflow.id)
    document.revision += 1
    document.status = f"draft v{document.revision} ready"
    ctx.work_item.complete()


def _complete_review(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    document = _document(ctx, ctx.parent.workflow.id)
    document.status = "approved" if decision.verdict == "approve" else "changes requested"
    ctx.work_item.complete()


def _started_by_itself(ctx: tq.WorkItemActivityContext) -> None:
    ctx.work_item.start()


draft_item = (
    Builder.work_item("write_draft")
    .with_actions(Builder.work_item_actions().complete(Draft, _complete_draft))
    .with_activities(on_initialized=_started_by_itself)
)
review_item = (
    Builder.work_item("review_draft")
    .with_actions(Builder.work_item_actions().complete(Decision, _complete_review))
    .with_activities(on_initialized=_started_by_itself)
)
simple_item = Builder.work_item("do").with_activities(on_initialized=_started_by_itself)


def _one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def _route_review(ctx: tq.RouterContext) -> tq.Route:
    """Approved: on to the release; otherwise back to drafting, for a new draft generation."""
    document = _document(ctx, ctx.parent.workflow.id)
    if document.status == "approved":
        return ctx.route.to_task("approve")
    return ctx.route.to_condition("drafting")


# --- the legal review, a child workflow ------------------------------------------------------

legal_review = (
    Builder.workflow("legal")
    .start_condition("start")
    .end_condition("end")
    .task("check_terms", Builder.task(simple_item).with_activities(on_enabled=_one_work_item))
    .task("sign_off", Builder.task(simple_item).with_activities(on_enabled=_one_work_item))
    .connect_condition("start", lambda to: to.task("check_terms"))
    .connect_task("check_terms", lambda to: to.task("sign_off"))
    .connect_task("sign_off", lambda to: to.condition("end"))
)


def _start_legal_review(ctx: tq.CompositeTaskActivityContext) -> None:
    ctx.workflow.initialize()


# --- the process -----------------------------------------------------------------------------


def _create_document(ctx: tq.WorkflowInitializeContext, payload: NewDocument) -> None:
    workflow_id = ctx.workflow.initialize()
    ctx.db.add(Document(workflow_id=workflow_id, title=payload.title, status="drafting"))


def _published(ctx: tq.WorkflowTeardownContext) -> None:
    _document(ctx, ctx.workflow.id).status = "published"


document_review = (
    Builder.workflow("document_review")
    .with_actions(Builder.workflow_actions().initialize(NewDocument, _create_document))
    .with_activities(on_completed=_published)
    .start_condition("start")
    .condition("drafting")
    .end_condition("end")
    .task(
        "draft",
        Builder.task(draft_item).with_join_type("xor").with_activities(on_enabled=_one_work_item),
    )
    .task(
        "review",
        Builder.task(review_item).with_split_type("xor").with_activities(on_enabled=_one_work_item),
    )
    .dummy_task("approve", Builder.dummy_task().with_split_type("and"))
    .composite_task(
        "legal_review",
        Builder.composite_task(legal_review).with_activities(on_enabled=_start_legal_review),
    )
    .task("prepare_release", Builder.task(simple_item).with_activities(on_enabled=_one_work_item))
    .dummy_task("publish", Builder.dummy_task())
    .connect_condition("start", lambda to: to.task("draft"))
    .connect_condition("drafting", lambda to: to.task("draft"))
    .connect_task("draft", lambda to: to.task("review"))
    .connect_task(
        "review", lambda to: to.condition("drafting").task("approve").route(_route_review)
    )
    .connect_task("approve", lambda to: to.task("legal_review").task("prepare_release"))
    .connect_task("legal_review", lambda to: to.task("publish"))
    .connect_task("prepare_release", lambda to: to.task("publish"))
    .connect_task("publish", lambda to: to.condition("end"))
)


def build(path: Path) -> tuple[tq.App, tq.WorkflowApi]:
    app = tq.App(f"sqlite:///{path}")
    Base.metadata.create_all(app.engine)
    api = app.register(tq.versions("document_review").version("v1", document_review)).api("v1")
    return app, api


def run(path: Path, console: Console | None = None) -> str:
    """Run one document through review (one revision, then approval); returns its id."""
    console = console or Console()
    app, api = build(path)
    say: Callable[[str], None] = console.print
    try:
        workflow_id = api.initialize_root_workflow({"title": "Quarterly report"})
        say(f"[bold]document_review[/bold] {workflow_id} started ({path})")
        steps = [
            ("draft", {"text": "first draft"}, "agent wrote draft v1"),
            (
                "review",
                {"verdict": "revise", "comment": "add the figures"},
                "reviewer asked for changes",
            ),
            ("draft", {"text": "second draft, with figures"}, "agent wrote draft v2"),
            ("review", {"verdict": "approve"}, "reviewer approved"),
        ]
        for task, payload, message in steps:
            item = _open_item(api, workflow_id, task)
            api.complete_work_item(item.id, payload)
            say(f"  [green]✓[/green] {task} (generation {item.generation}): {message}")
            _show_state(api, workflow_id, say)
        (legal,) = api.list_child_workflows(workflow_id, "legal_review")
        for task in ("check_terms", "sign_off"):
            item = _open_item(api, legal.id, task)
            api.internal_complete_work_item(item.id)
            say(f"  [green]✓[/green] legal/{task}")
        item = _open_item(api, workflow_id, "prepare_release")
        api.internal_complete_work_item(item.id)
        say("  [green]✓[/green] prepare_release")
        _show_state(api, workflow_id, say)
        console.print(_summary(app, api, workflow_id))
        return workflow_id
    finally:
        app.close()


def _open_item(api: tq.WorkflowApi, workflow_id: str, task: str) -> tq.WorkItem:
    (item,) = api.list_work_items(workflow_id, task_name=task, state="started")
    return item


def _show_state(api: tq.WorkflowApi, workflow_id: str, say: Callable[[str], None]) -> None:
    states = api.get_workflow_task_states(workflow_id)
    active = [
        f"{name}={state}" for name, state in states.items() if state in ("enabled", "started")
    ]
    say(
        f"    workflow is {api.get_workflow_state(workflow_id)}; active: {', '.join(active) or '-'}"
    )


def _summary(app: tq.App, api: tq.WorkflowApi, workflow_id: str) -> Table:
    snapshot = api.get_workflow_snapshot(workflow_id)
    table = Table(title=f"{snapshot.name} {workflow_id}: {snapshot.state}")
    table.add_column("task")
    table.add_column("state")
    table.add_column("generation", justify="right")
    for name, task in snapshot.tasks.items():
        table.add_row(name, task.state, str(task.generation))
    with app.engine.connect() as connection:
        document = connection.execute(
            select(Document.title, Document.revision, Document.status).where(
                Document.workflow_id == workflow_id
            )
        ).one()
    table.caption = f"document {document.title!r}: revision {document.revision}, {document.status}"
    return table
