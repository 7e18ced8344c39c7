"""Teardown activity scheduling: `register_scheduled` while alive, `ctx.scheduler` when dying.

A job scheduled while an element is alive can be tied to it; one scheduled as it is torn down
must outlive it. A `critical_work` item's initialize action (active lifecycle) records the work
in the user's table and registers the `process_data` job with `ctx.register_scheduled`, so the
job is dropped if the item dies first. Its teardown activities — `on_completed`, `on_failed`,
`on_canceled` — update the domain row inline (mark as completed / failed / clean up) and
schedule a notification with `ctx.scheduler` directly, so that it outlives the work item.

Work items are added by the application through the API (`api.initialize_work_item(target,
payload)` with a `tq.Target`); the custom initialize action makes that a public call.

Run it: `python examples/teardown_scheduling.py`
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydantic
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tasquencer as tq
from tasquencer import Builder

# --- the user's own tables -------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class WorkRecord(Base):
    """The user's record of the work: one row per critical work item."""

    __tablename__ = "teardown_work"

    work_item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # processing | completed | failed | cleaned_up
    result: Mapped[str | None] = mapped_column(String(200), default=None)


class Message(Base):
    """Notifications and alerts that went out (written by the notification actions)."""

    __tablename__ = "teardown_messages"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_item_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(200), default="")


class WorkInput(pydantic.BaseModel):
    data: str


# --- domain helpers: they run in the caller's transaction -----------------------------------


def load_record(ctx: tq.TransactionContext, work_item_id: str) -> WorkRecord:
    """The record of one work item, read in the running transaction."""
    record = ctx.db.get(WorkRecord, work_item_id)
    if record is None:
        raise LookupError(f"work item {work_item_id} has no work record")
    return record


def mark_as_completed(ctx: tq.TransactionContext, work_item_id: str) -> None:
    load_record(ctx, work_item_id).status = "completed"


def mark_as_failed(ctx: tq.TransactionContext, work_item_id: str) -> None:
    load_record(ctx, work_item_id).status = "failed"


def cleanup(ctx: tq.TransactionContext, work_item_id: str) -> None:
    record = load_record(ctx, work_item_id)
    record.status = "cleaned_up"
    record.result = None


class InvalidData(Exception):
    """A business error: retrying will not help."""


def process(data: str) -> str:
    """The external processing service (an HTTP call, in real life)."""
    if not data.strip():
        raise InvalidData("empty data")
    return data.upper()


# --- the workflow and its functions ----------------------------------------------------------


def build(app: tq.App) -> tq.WorkflowApi:
    Base.metadata.create_all(app.engine)

    @app.mutation(name="teardown_scheduling.record_message", internal=True)
    def record_message(
        ctx: tq.MutationContext, *, work_item_id: str, kind: str, detail: str = ""
    ) -> None:
        ctx.db.add(Message(work_item_id=work_item_id, kind=kind, detail=detail))

    @app.action(name="teardown_scheduling.send_completion_notification", internal=True)
    def send_completion_notification(
        ctx: tq.ActionContext, *, work_item_id: str, workflow_id: str
    ) -> None:
        ctx.run_mutation(
            record_message, work_item_id=work_item_id, kind="completed", detail=workflow_id
        )

    @app.action(name="teardown_scheduling.send_failure_alert", internal=True)
    def send_failure_alert(ctx: tq.ActionContext, *, work_item_id: str, timestamp: str) -> None:
        ctx.run_mutation(record_message, work_item_id=work_item_id, kind="failed", detail=timestamp)

    @app.action(name="teardown_scheduling.send_cancellation_notification", internal=True)
    def send_cancellation_notification(ctx: tq.ActionContext, *, work_item_id: str) -> None:
        ctx.run_mutation(record_message, work_item_id=work_item_id, kind="canceled")

    @app.mutation(name="teardown_scheduling.save_result", internal=True)
    def save_result(ctx: tq.MutationContext, *, work_item_id: str, result: str) -> None:
        """Store the result and complete the work item in one transaction (`ctx=ctx`)."""
        load_record(ctx, work_item_id).result = result
        api.internal_complete_work_item(work_item_id, ctx=ctx)

    @app.action(name="teardown_scheduling.process_data", internal=True)
    def process_data(ctx: tq.ActionContext, *, work_item_id: str, data: str) -> None:
        try:
            result = process(data)
        except InvalidData as error:
            ctx.run_mutation(
                api.internal_fail_work_item, work_item_id=work_item_id, payload=str(error)
            )
            return
        ctx.run_mutation(save_result, work_item_id=work_item_id, result=result)

    # Active lifecycle: register_scheduled.
    def initialize_critical_work(ctx: tq.WorkItemActionContext, payload: WorkInput) -> None:
        work_item_id = ctx.work_item.initialize()
        ctx.db.add(
            WorkRecord(
                work_item_id=work_item_id,
                workflow_id=ctx.parent.workflow.id,
                data=payload.data,
                status="processing",
            )
        )
        ctx.register_scheduled(
            ctx.scheduler.run_after(0, process_data, work_item_id=work_item_id, data=payload.data)
        )

    # Teardown: ctx.scheduler directly, plus inline domain updates.
    def on_completed(ctx: tq.WorkItemTeardownContext) -> None:
        ctx.scheduler.run_after(
            0,
            send_completion_notification,
            work_item_id=ctx.work_item.id,
            workflow_id=ctx.parent.workflow.id,
        )
        mark_as_completed(ctx, ctx.work_item.id)

    def on_failed(ctx: tq.WorkItemTeardownContext) -> None:
        ctx.scheduler.run_after(
            0, send_failure_alert, work_item_id=ctx.work_item.id, timestamp=ctx.now().isoformat()
        )
        mark_as_failed(ctx, ctx.work_item.id)

    def on_canceled(ctx: tq.WorkItemTeardownContext) -> None:
        ctx.scheduler.run_after(0, send_cancellation_notification, work_item_id=ctx.work_item.id)
        cleanup(ctx, ctx.work_item.id)

    critical_work = (
        Builder.work_item("critical_work")
        .with_actions(Builder.work_item_actions().initialize(WorkInput, initialize_critical_work))
        .with_activities(
            on_initialized=lambda ctx: ctx.work_item.start(),
            on_completed=on_completed,
            on_failed=on_failed,
            on_canceled=on_canceled,
        )
    )
    critical = (
        Builder.workflow("critical")
        .start_condition("start")
        .end_condition("end")
        .task("process", Builder.task(critical_work))
        .connect_condition("start", lambda to: to.task("process"))
        .connect_task("process", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("critical").version("v1", critical)).api("v1")
    return api


def add_work(api: tq.WorkflowApi, workflow_id: str, data: str) -> str:
    """Create a `critical_work` item in the `process` task of one workflow instance."""
    target = tq.Target(
        path=("critical", "process", "critical_work"),
        parent_workflow_id=workflow_id,
        parent_task_name="process",
    )
    return api.initialize_work_item(target, {"data": data})


def record_of(app: tq.App, work_item_id: str) -> WorkRecord:
    with Session(app.engine) as session:
        record = session.get(WorkRecord, work_item_id)
        assert record is not None
        return record


def messages_of(app: tq.App, work_item_id: str) -> list[str]:
    with Session(app.engine) as session:
        query = select(Message.kind).where(Message.work_item_id == work_item_id)
        return list(session.scalars(query.order_by(Message.id)))


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def has_messages(app: tq.App, work_item_id: str) -> Callable[[], bool]:
    """The condition `wait_until` waits for: a message about the work item went out."""
    return lambda: bool(messages_of(app, work_item_id))


def main(directory: Path | None = None) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-teardown-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    try:
        api = build(app)
        good = api.internal_initialize_root_workflow()
        bad = api.internal_initialize_root_workflow()
        dropped = api.internal_initialize_root_workflow()
        items = {
            "good data": add_work(api, good, "quarterly numbers"),
            "bad data": add_work(api, bad, "   "),
            "canceled": add_work(api, dropped, "never processed"),
        }
        # Canceled before a worker picked it up: process_data is canceled with the work item,
        # the cancellation notification (scheduled directly) is not.
        api.internal_cancel_root_workflow(dropped)
        with app.start_worker(poll_interval=0.2):
            for item_id in items.values():
                wait_until(has_messages(app, item_id))
        for label, item_id in items.items():
            record = record_of(app, item_id)
            (job,) = [
                j
                for j in app.list_jobs(function="teardown_scheduling.process_data")
                if j.args["work_item_id"] == item_id
            ]
            print(
                f"{label:<10} work item {api.get_work_item_state(item_id):<9} "
                f"record {record.status:<10} result {record.result!r:<21} "
                f"process_data {job.state:<8} messages {messages_of(app, item_id)}"
            )
    finally:
        app.close()


if __name__ == "__main__":
    main()
