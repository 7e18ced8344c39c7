"""Async work: a work item whose work (sending an email) happens outside the engine.

An engine call is one database transaction and must not do I/O, so the work item's initialize
action only *schedules* the email: `ctx.register_scheduled(ctx.scheduler.run_after(0, send_email,
...))`. A worker runs the `send_email` action outside any transaction; it talks to the provider
and reports back through the internal API (`api.internal_complete_work_item`), which runs with
`ctx.is_internal=True`. The user's own `async_email_messages` table follows the email:
`pending` (on_initialized) → `sent` (complete action).

The complete action is a custom one that authorizes by caller: it lets the internal callback
through (`ctx.is_internal`) but requires a signed-in user from anyone else, and records who
completed the email. With a default complete action only internal callers are accepted at all.

Run it: `python examples/async_email.py`
"""

from __future__ import annotations

import contextlib
import contextvars
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pydantic
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tasquencer as tq
from tasquencer import Builder

# --- the user's own tables -------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Signup(Base):
    """One signup: who gets the welcome email."""

    __tablename__ = "async_email_signups"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))


class WelcomeEmail(Base):
    """One email, keyed by the work item that sends it."""

    __tablename__ = "async_email_messages"

    work_item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | sent
    provider_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    completed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


# --- payloads --------------------------------------------------------------------------------


class NewSignup(pydantic.BaseModel):
    email: str
    name: str


class EmailRequest(pydantic.BaseModel):
    to: str
    subject: str


class EmailSent(pydantic.BaseModel):
    provider_message_id: str


# --- the outside world -----------------------------------------------------------------------

# Who is signed in, as your web framework would know it (a FastAPI dependency, Django's
# request.user, ...). Internal callbacks from jobs have no user.
current_user: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_user", default=None
)


@contextlib.contextmanager
def acting_as(user: str) -> Iterator[None]:
    token = current_user.set(user)
    try:
        yield
    finally:
        current_user.reset(token)


# What the fake provider has sent: a stand-in for an HTTP API (SES, Postmark, ...).
OUTBOX: list[dict[str, str]] = []


def deliver(to: str, subject: str) -> str:
    """Send an email through the provider; returns the provider's message id."""
    message_id = f"msg-{uuid.uuid4().hex[:12]}"
    OUTBOX.append({"to": to, "subject": subject, "message_id": message_id})
    return message_id


# --- the workflow and its functions ----------------------------------------------------------


def load_signup(ctx: tq.TransactionContext, workflow_id: str) -> Signup:
    """The signup of one workflow instance, read in the running transaction."""
    signup = ctx.db.get(Signup, workflow_id)
    if signup is None:
        raise LookupError(f"workflow {workflow_id} has no signup")
    return signup


def load_email(ctx: tq.TransactionContext, work_item_id: str) -> WelcomeEmail:
    """The email a work item sends, read in the running transaction."""
    email = ctx.db.get(WelcomeEmail, work_item_id)
    if email is None:
        raise LookupError(f"work item {work_item_id} has no email")
    return email


def build(app: tq.App) -> tq.WorkflowApi:
    """Create the tables, register the workflow and the action; returns the workflow's API."""
    Base.metadata.create_all(app.engine)

    # The action runs in a worker, outside any transaction: I/O is allowed here. A stable
    # `name=` keeps jobs runnable when the module is run as a script (`__main__`) or moved.
    @app.action(name="async_email.send_email", internal=True)
    def send_email(ctx: tq.ActionContext, *, work_item_id: str, to: str, subject: str) -> None:
        message_id = deliver(to, subject)
        # Back into the engine through the internal API: ctx.is_internal is True there.
        ctx.run_mutation(
            api.internal_complete_work_item,
            work_item_id=work_item_id,
            payload={"provider_message_id": message_id},
        )

    def initialize_email(ctx: tq.WorkItemActionContext, request: EmailRequest) -> None:
        # A custom action replaces the default one and its internal-only check: keep it, or
        # any caller of api.initialize_work_item could send emails.
        if not ctx.is_internal:
            raise tq.NotInternalMutationError("emails are created by the workflow only")
        work_item_id = ctx.work_item.initialize()
        # Tied to the work item: canceled if it fails or is canceled before the email is sent.
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                0, send_email, work_item_id=work_item_id, to=request.to, subject=request.subject
            )
        )

    def complete_email(ctx: tq.WorkItemActionContext, sent: EmailSent) -> None:
        user = current_user.get()
        if not ctx.is_internal and user is None:  # skip user authentication for callbacks
            raise PermissionError("completing an email by hand needs a signed-in user")
        email = load_email(ctx, ctx.work_item.id)
        email.status = "sent"
        email.provider_message_id = sent.provider_message_id
        email.completed_by = "system" if ctx.is_internal else user
        email.sent_at = ctx.now()
        ctx.work_item.complete()

    def email_initialized(ctx: tq.WorkItemActivityContext) -> None:
        ctx.db.add(
            WelcomeEmail(
                work_item_id=ctx.work_item.id,
                workflow_id=ctx.parent.workflow.id,
                status="pending",
            )
        )
        ctx.work_item.start()  # complete needs a started work item

    send_welcome_email = (
        Builder.work_item("send_welcome_email")
        .with_actions(
            Builder.work_item_actions()
            .initialize(EmailRequest, initialize_email)
            .complete(EmailSent, complete_email)
        )
        .with_activities(on_initialized=email_initialized)
    )

    def task_enabled(ctx: tq.TaskActivityContext) -> None:
        signup = load_signup(ctx, ctx.parent.workflow.id)
        ctx.work_item.initialize({"to": signup.email, "subject": f"Welcome, {signup.name}!"})

    def create_signup(ctx: tq.WorkflowInitializeContext, payload: NewSignup) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(Signup(workflow_id=workflow_id, email=payload.email, name=payload.name))

    welcome = (
        Builder.workflow("welcome")
        .with_actions(Builder.workflow_actions().initialize(NewSignup, create_signup))
        .start_condition("start")
        .end_condition("end")
        .task(
            "send_welcome_email",
            Builder.task(send_welcome_email).with_activities(on_enabled=task_enabled),
        )
        .connect_condition("start", lambda to: to.task("send_welcome_email"))
        .connect_task("send_welcome_email", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("welcome").version("v1", welcome)).api("v1")
    return api


def get_email(app: tq.App, work_item_id: str) -> WelcomeEmail | None:
    """Read the domain row outside the engine (any SQLAlchemy session works)."""
    with Session(app.engine) as session:
        return session.get(WelcomeEmail, work_item_id)


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def main(directory: Path | None = None) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-async-email-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    try:
        api = build(app)
        # The job is in the database from the moment this call commits; a worker started
        # later (or in another process: `tasquencer worker`) picks it up.
        workflow_id = api.initialize_root_workflow({"email": "ada@example.com", "name": "Ada"})
        (item,) = api.list_work_items(workflow_id)
        email = get_email(app, item.id)
        assert email is not None
        print(f"welcome workflow {workflow_id} started; email {item.id} is {email.status}")
        with app.start_worker(poll_interval=0.2):
            wait_until(lambda: api.get_workflow_state(workflow_id) == "completed")
        email = get_email(app, item.id)
        assert email is not None
        (job,) = app.list_jobs(function="async_email.send_email")
        print(f"send_email job {job.id}: {job.state} after {job.attempts} attempt(s)")
        print(f"email {item.id} is {email.status} ({email.provider_message_id})")
        print(f"workflow {workflow_id} is {api.get_workflow_state(workflow_id)}")
    finally:
        app.close()


if __name__ == "__main__":
    main()
