"""Timed delay: a task that completes by itself after a waiting period.

A new contract has a one-hour cooling-off period. The `cooling_off` task's `on_enabled` creates
its work item and registers `api.internal_complete_work_item` to run an hour later — the API's
methods are registered functions, so they can be scheduled directly. The job is tied to the task
generation: if the customer withdraws (the workflow is canceled) before the hour is up, the job
is canceled with the task and never runs.

Run it: `python examples/timed_delay.py`
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydantic
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tasquencer as tq
from tasquencer import Builder

HOUR = 3600.0

# --- the user's own table --------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Contract(Base):
    __tablename__ = "timed_contracts"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))  # cooling_off | active | withdrawn
    cooling_off_job: Mapped[str | None] = mapped_column(String(32), default=None)


class NewContract(pydantic.BaseModel):
    customer: str


# --- the workflow ----------------------------------------------------------------------------


def load_contract(ctx: tq.TransactionContext, workflow_id: str) -> Contract:
    """The contract of one workflow instance, read in the running transaction."""
    contract = ctx.db.get(Contract, workflow_id)
    if contract is None:
        raise LookupError(f"workflow {workflow_id} has no contract")
    return contract


def build(app: tq.App, *, delay: float = HOUR) -> tq.WorkflowApi:
    """Create the table and register the workflow (cooling off for `delay` seconds)."""
    Base.metadata.create_all(app.engine)

    def cooling_off_enabled(ctx: tq.TaskActivityContext) -> None:
        work_item_id = ctx.work_item.initialize()
        # `api` is assigned below; the activity only runs after registration.
        job_id = ctx.register_scheduled(
            ctx.scheduler.run_after(
                delay, api.internal_complete_work_item, work_item_id=work_item_id
            )
        )
        load_contract(ctx, ctx.parent.workflow.id).cooling_off_job = job_id

    waiting_period = Builder.work_item("waiting_period").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start()  # completing needs a started item
    )

    def set_status(status: str) -> Callable[[tq.WorkflowTeardownContext], None]:
        def activity(ctx: tq.WorkflowTeardownContext) -> None:
            load_contract(ctx, ctx.workflow.id).status = status

        return activity

    def sign(ctx: tq.WorkflowInitializeContext, payload: NewContract) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(
            Contract(workflow_id=workflow_id, customer=payload.customer, status="cooling_off")
        )

    contract = (
        Builder.workflow("contract")
        .with_actions(Builder.workflow_actions().initialize(NewContract, sign))
        .with_activities(on_completed=set_status("active"), on_canceled=set_status("withdrawn"))
        .start_condition("start")
        .end_condition("end")
        .task(
            "cooling_off",
            Builder.task(waiting_period).with_activities(on_enabled=cooling_off_enabled),
        )
        .connect_condition("start", lambda to: to.task("cooling_off"))
        .connect_task("cooling_off", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("contract").version("v1", contract)).api("v1")
    return api


def contract_of(app: tq.App, workflow_id: str) -> Contract:
    with Session(app.engine) as session:
        found = session.get(Contract, workflow_id)
        assert found is not None
        return found


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def main(directory: Path | None = None, *, delay: float = 1.0) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-timed-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    try:
        api = build(app, delay=delay)
        with app.start_worker(poll_interval=0.2):
            kept = api.initialize_root_workflow({"customer": "ada"})
            withdrawn = api.initialize_root_workflow({"customer": "bob"})
            print(f"two contracts signed; each cools off for {delay} s")
            api.internal_cancel_root_workflow(withdrawn)
            print(f"bob withdrew at once: contract {contract_of(app, withdrawn).status}")
            started = time.monotonic()
            wait_until(lambda: api.get_workflow_state(kept) == "completed", timeout=delay + 10)
            waited = time.monotonic() - started
            print(f"ada's contract is {contract_of(app, kept).status} after {waited:.1f} s")
        for workflow_id in (kept, withdrawn):
            found = contract_of(app, workflow_id)
            assert found.cooling_off_job is not None
            job = app.get_job(found.cooling_off_job)
            assert job is not None
            print(f"  {found.customer}: contract {found.status}, auto-complete job {job.state}")
    finally:
        app.close()


if __name__ == "__main__":
    main()
