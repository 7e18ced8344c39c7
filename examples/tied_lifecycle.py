"""Tied lifecycle: jobs registered with `ctx.register_scheduled` die with their element.

An expense claim schedules three jobs while its elements are alive: the workflow's initialize
action schedules an escalation to the manager (tied to the workflow), the approval task's
`on_enabled` a reminder to the approver (tied to the task), and the approval work item's
initialize action a fraud check (tied to the work item). When the element fails or is
canceled — or its workflow is — the engine cancels those jobs in the same transaction, so a
pending job never runs for something that no longer exists.

Run it: `python examples/tied_lifecycle.py`
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydantic
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tasquencer as tq
from tasquencer import Builder

DAY = 24 * 3600

# --- the user's own tables -------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Expense(Base):
    __tablename__ = "tied_expenses"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    employee: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int]
    status: Mapped[str] = mapped_column(String(30))
    fraud_score: Mapped[float | None] = mapped_column(default=None)


class ExpenseEvent(Base):
    """What the scheduled actions did (one row per run)."""

    __tablename__ = "tied_expense_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("tied_expenses.workflow_id"))
    event: Mapped[str] = mapped_column(String(30))


# --- payloads --------------------------------------------------------------------------------


class Claim(pydantic.BaseModel):
    employee: str
    amount: int


class Decision(pydantic.BaseModel):
    approved: bool


# --- the workflow and its functions ----------------------------------------------------------


def require_internal(ctx: tq.TransactionContext) -> None:
    """Custom actions replace the default ones, internal-only check included: keep it here."""
    if not ctx.is_internal:
        raise tq.NotInternalMutationError("only the engine and its jobs may call this action")


def load_expense(ctx: tq.TransactionContext, workflow_id: str) -> Expense:
    """The expense of one claim, read in the running transaction."""
    expense = ctx.db.get(Expense, workflow_id)
    if expense is None:
        raise LookupError(f"claim {workflow_id} has no expense")
    return expense


def build(
    app: tq.App, *, remind_after: float = DAY, escalate_after: float = 7 * DAY
) -> tq.WorkflowApi:
    """Create the tables and register everything; returns the workflow's API."""
    Base.metadata.create_all(app.engine)

    @app.mutation(name="tied_lifecycle.record_event", internal=True)
    def record_event(
        ctx: tq.MutationContext, *, workflow_id: str, event: str, fraud_score: float | None = None
    ) -> None:
        ctx.db.add(ExpenseEvent(workflow_id=workflow_id, event=event))
        if fraud_score is not None:
            load_expense(ctx, workflow_id).fraud_score = fraud_score

    @app.action(name="tied_lifecycle.run_fraud_check", internal=True)
    def run_fraud_check(ctx: tq.ActionContext, *, workflow_id: str, amount: int) -> None:
        score = min(1.0, amount / 10_000)  # a call to a scoring service, in real life
        ctx.run_mutation(
            record_event, workflow_id=workflow_id, event="fraud_checked", fraud_score=score
        )

    @app.action(name="tied_lifecycle.remind_approver", internal=True)
    def remind_approver(ctx: tq.ActionContext, *, workflow_id: str) -> None:
        ctx.run_mutation(record_event, workflow_id=workflow_id, event="approver_reminded")

    @app.action(name="tied_lifecycle.escalate", internal=True)
    def escalate(ctx: tq.ActionContext, *, workflow_id: str) -> None:
        ctx.run_mutation(record_event, workflow_id=workflow_id, event="escalated")

    # The work item: its initialize action ties the fraud check to the work item.
    def initialize_approval(ctx: tq.WorkItemActionContext, payload: None) -> None:
        require_internal(ctx)
        ctx.work_item.initialize()
        expense = load_expense(ctx, ctx.parent.workflow.id)
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                0, run_fraud_check, workflow_id=expense.workflow_id, amount=expense.amount
            )
        )

    def decide(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
        # A public action: a real app checks here that the caller is the approver.
        expense = load_expense(ctx, ctx.parent.workflow.id)
        expense.status = "approved" if decision.approved else "rejected"
        ctx.work_item.complete()

    def approval_set_status(status: str) -> Callable[[tq.WorkItemTeardownContext], None]:
        def activity(ctx: tq.WorkItemTeardownContext) -> None:
            load_expense(ctx, ctx.parent.workflow.id).status = status

        return activity

    approval = (
        Builder.work_item("approval")
        .with_actions(
            Builder.work_item_actions()
            .initialize(None, initialize_approval)
            .complete(Decision, decide)
        )
        .with_activities(
            on_initialized=lambda ctx: ctx.work_item.start(),
            on_failed=approval_set_status("approval failed"),
            on_canceled=approval_set_status("approval canceled"),
        )
    )

    # The task: its on_enabled ties the reminder to this task generation.
    def approval_enabled(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                remind_after, remind_approver, workflow_id=ctx.parent.workflow.id
            )
        )

    # The workflow: its initialize action ties the escalation to the workflow.
    def submit_claim(ctx: tq.WorkflowInitializeContext, claim: Claim) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(
            Expense(
                workflow_id=workflow_id,
                employee=claim.employee,
                amount=claim.amount,
                status="submitted",
            )
        )
        ctx.register_scheduled(
            ctx.scheduler.run_after(escalate_after, escalate, workflow_id=workflow_id)
        )

    def claim_withdrawn(ctx: tq.WorkflowTeardownContext) -> None:
        load_expense(ctx, ctx.workflow.id).status = "withdrawn"

    expense_claim = (
        Builder.workflow("expense_claim")
        .with_actions(Builder.workflow_actions().initialize(Claim, submit_claim))
        .with_activities(on_canceled=claim_withdrawn)
        .start_condition("start")
        .end_condition("end")
        .task("approve", Builder.task(approval).with_activities(on_enabled=approval_enabled))
        .connect_condition("start", lambda to: to.task("approve"))
        .connect_task("approve", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("expense_claim").version("v1", expense_claim)).api("v1")


JOB_NAMES = {
    "tied_lifecycle.run_fraud_check": "fraud check (work item)",
    "tied_lifecycle.remind_approver": "reminder (task)",
    "tied_lifecycle.escalate": "escalation (workflow)",
}


def jobs_of(app: tq.App, workflow_id: str) -> dict[str, str]:
    """`{function name: state}` of the jobs scheduled for one claim."""
    states = {
        job.function: job.state
        for job in app.list_jobs()
        if job.function in JOB_NAMES and job.args["workflow_id"] == workflow_id
    }
    return {function: states[function] for function in JOB_NAMES if function in states}


def events_of(app: tq.App, workflow_id: str) -> list[str]:
    with Session(app.engine) as session:
        query = select(ExpenseEvent.event).where(ExpenseEvent.workflow_id == workflow_id)
        return list(session.scalars(query.order_by(ExpenseEvent.id)))


def expense_of(app: tq.App, workflow_id: str) -> Expense:
    with Session(app.engine) as session:
        expense = session.get(Expense, workflow_id)
        assert expense is not None
        return expense


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def main(
    directory: Path | None = None, *, remind_after: float = 0.5, escalate_after: float = 60.0
) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-tied-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    try:
        api = build(app, remind_after=remind_after, escalate_after=escalate_after)
        kept = api.initialize_root_workflow({"employee": "ada", "amount": 120})
        withdrawn = api.initialize_root_workflow({"employee": "bob", "amount": 4000})
        # Withdrawn before any worker ran: its three jobs are canceled in this transaction.
        api.internal_cancel_root_workflow(withdrawn)
        with app.start_worker(poll_interval=0.2):
            wait_until(lambda: "approver_reminded" in events_of(app, kept))
            (item,) = api.list_work_items(kept, task_name="approve")
            api.complete_work_item(item.id, {"approved": True})
        for workflow_id in (kept, withdrawn):
            expense = expense_of(app, workflow_id)
            print(
                f"claim of {expense.employee} ({workflow_id}): workflow "
                f"{api.get_workflow_state(workflow_id)}, expense {expense.status}, "
                f"events {events_of(app, workflow_id)}"
            )
            for function, state in jobs_of(app, workflow_id).items():
                print(f"  {JOB_NAMES[function]:<26} {state}")
    finally:
        app.close()


if __name__ == "__main__":
    main()
