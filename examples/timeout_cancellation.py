"""Timeout with cancellation: the slow work and a timer race; the first one cancels the other.

An identity check runs two branches at once (an AND split): `verify`, whose work is done by an
external verification service through actions, and `timer`, whose work item is completed by a
scheduled `api.internal_complete_work_item` when the timeout is up. Each task's cancellation
region holds the other branch (its task and its conditions). If the timer fires first, the
verification is canceled — its work item, and the job still waiting for the service's answer,
which was tied to the work item with `register_scheduled`. If the service answers first, the
timer task is canceled together with its pending job. Both branches meet in an XOR-join.

The verification talks to the service in two steps: `submit_check` (at once) sends the request
and starts the work item with the service's estimated time; the start action schedules
`fetch_result` for that time. A callback that arrives after its branch was canceled finds the
work item canceled and is dropped.

Run it: `python examples/timeout_cancellation.py`
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
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


class IdentityCheck(Base):
    __tablename__ = "timeout_identity_checks"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(30), default="requested")
    outcome: Mapped[str | None] = mapped_column(String(30), default=None)


class Applicant(pydantic.BaseModel):
    name: str


class Submitted(pydantic.BaseModel):
    request_id: str
    eta_seconds: float


class Verified(pydantic.BaseModel):
    outcome: str


# --- the verification service (a stand-in for an HTTP API) -----------------------------------


class FakeVerificationService:
    """Answers after `etas[applicant]` seconds (`default_eta` otherwise)."""

    def __init__(self, default_eta: float = 600.0, etas: dict[str, float] | None = None) -> None:
        self.default_eta = default_eta
        self.etas = dict(etas or {})
        self.requests: dict[str, str] = {}

    def submit(self, applicant: str) -> tuple[str, float]:
        request_id = f"req_{uuid.uuid4().hex[:10]}"
        self.requests[request_id] = applicant
        return request_id, self.etas.get(applicant, self.default_eta)

    def result(self, request_id: str) -> str:
        return "clear" if request_id in self.requests else "unknown"


# --- the workflow and its functions ----------------------------------------------------------


def require_internal(ctx: tq.TransactionContext) -> None:
    """Custom actions replace the default ones, internal-only check included: keep it here."""
    if not ctx.is_internal:
        raise tq.NotInternalMutationError("only the engine and its jobs may call this action")


def load_check(ctx: tq.TransactionContext, workflow_id: str) -> IdentityCheck:
    """The identity check of one workflow instance, read in the running transaction."""
    check = ctx.db.get(IdentityCheck, workflow_id)
    if check is None:
        raise LookupError(f"workflow {workflow_id} has no identity check")
    return check


def build(
    app: tq.App, *, timeout: float = HOUR, service: FakeVerificationService | None = None
) -> tq.WorkflowApi:
    Base.metadata.create_all(app.engine)
    service = service or FakeVerificationService()

    # --- the slow branch: actions talking to the service ---

    @app.action(name="timeout_cancellation.submit_check", internal=True)
    def submit_check(ctx: tq.ActionContext, *, work_item_id: str, applicant: str) -> None:
        request_id, eta = service.submit(applicant)
        # If the timer won while we were talking to the service, the work item is canceled
        # and starting it fails: nothing left to do.
        with contextlib.suppress(tq.WorkItemInvalidStateError):
            ctx.run_mutation(
                api.internal_start_work_item,
                work_item_id=work_item_id,
                payload={"request_id": request_id, "eta_seconds": eta},
            )

    @app.action(name="timeout_cancellation.fetch_result", internal=True)
    def fetch_result(ctx: tq.ActionContext, *, work_item_id: str, request_id: str) -> None:
        outcome = service.result(request_id)
        with contextlib.suppress(tq.WorkItemInvalidStateError):  # too late: branch canceled
            ctx.run_mutation(
                api.internal_complete_work_item,
                work_item_id=work_item_id,
                payload={"outcome": outcome},
            )

    def initialize_verification(ctx: tq.WorkItemActionContext, payload: None) -> None:
        require_internal(ctx)
        work_item_id = ctx.work_item.initialize()
        check = load_check(ctx, ctx.parent.workflow.id)
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                0, submit_check, work_item_id=work_item_id, applicant=check.applicant
            )
        )

    def start_verification(ctx: tq.WorkItemActionContext, submitted: Submitted) -> None:
        require_internal(ctx)
        check = load_check(ctx, ctx.parent.workflow.id)
        check.request_id = submitted.request_id
        check.status = "submitted"
        # Still the active lifecycle: the answer's job is tied to the work item.
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                submitted.eta_seconds,
                fetch_result,
                work_item_id=ctx.work_item.id,
                request_id=submitted.request_id,
            )
        )

    def complete_verification(ctx: tq.WorkItemActionContext, verified: Verified) -> None:
        require_internal(ctx)
        load_check(ctx, ctx.parent.workflow.id).outcome = verified.outcome

    verification = Builder.work_item("verification").with_actions(
        Builder.work_item_actions()
        .initialize(None, initialize_verification)
        .start(Submitted, start_verification)
        .complete(Verified, complete_verification)
    )

    # --- the timer branch ---

    def timer_enabled(ctx: tq.TaskActivityContext) -> None:
        work_item_id = ctx.work_item.initialize()
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                timeout, api.internal_complete_work_item, work_item_id=work_item_id
            )
        )

    timeout_item = Builder.work_item("timeout").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start()
    )

    def set_status(status: str) -> Callable[[tq.TaskTeardownContext], None]:
        def activity(ctx: tq.TaskTeardownContext) -> None:
            load_check(ctx, ctx.parent.workflow.id).status = status

        return activity

    def request_check(ctx: tq.WorkflowInitializeContext, applicant: Applicant) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(IdentityCheck(workflow_id=workflow_id, applicant=applicant.name))

    identity_check = (
        Builder.workflow("identity_check")
        .with_actions(Builder.workflow_actions().initialize(Applicant, request_check))
        .start_condition("start")
        .condition("c_verify")
        .condition("c_timer")
        .condition("c_verified")
        .condition("c_timed_out")
        .end_condition("end")
        .dummy_task("dispatch", Builder.dummy_task())  # AND split: both branches at once
        .task(
            "verify",
            Builder.task(verification).with_activities(
                on_enabled=lambda ctx: ctx.work_item.initialize(),
                on_completed=set_status("verified"),
            ),
        )
        .task(
            "timer",
            Builder.task(timeout_item).with_activities(
                on_enabled=timer_enabled, on_completed=set_status("timed out")
            ),
        )
        .dummy_task("merge", Builder.dummy_task().with_join_type("xor"))
        .connect_condition("start", lambda to: to.task("dispatch"))
        .connect_task("dispatch", lambda to: to.condition("c_verify").condition("c_timer"))
        .connect_condition("c_verify", lambda to: to.task("verify"))
        .connect_condition("c_timer", lambda to: to.task("timer"))
        .connect_task("verify", lambda to: to.condition("c_verified"))
        .connect_task("timer", lambda to: to.condition("c_timed_out"))
        .connect_condition("c_verified", lambda to: to.task("merge"))
        .connect_condition("c_timed_out", lambda to: to.task("merge"))
        .connect_task("merge", lambda to: to.condition("end"))
        # The timer cancels the slow branch; the slow branch cancels the timer.
        .with_cancellation_region(
            "timer", lambda cr: cr.task("verify").condition("c_verify").condition("c_verified")
        )
        .with_cancellation_region(
            "verify", lambda cr: cr.task("timer").condition("c_timer").condition("c_timed_out")
        )
    )
    api = app.register(tq.versions("identity_check").version("v1", identity_check)).api("v1")
    return api


def check_of(app: tq.App, workflow_id: str) -> IdentityCheck:
    with Session(app.engine) as session:
        check = session.get(IdentityCheck, workflow_id)
        assert check is not None
        return check


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def completed(api: tq.WorkflowApi, workflow_id: str) -> Callable[[], bool]:
    """The condition `wait_until` waits for: the workflow instance has completed."""
    return lambda: api.get_workflow_state(workflow_id) == "completed"


def main(
    directory: Path | None = None,
    *,
    timeout: float = 1.0,
    fast_answer: float = 0.2,
    slow_answer: float = 3.0,
) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-timeout-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    service = FakeVerificationService(etas={"ada": fast_answer, "bob": slow_answer})
    try:
        api = build(app, timeout=timeout, service=service)
        print(
            f"timeout {timeout} s; the service answers ada in {fast_answer} s, bob in {slow_answer}"
        )
        with app.start_worker(poll_interval=0.2):
            checks = {name: api.initialize_root_workflow({"name": name}) for name in ("ada", "bob")}
            for workflow_id in checks.values():
                wait_until(completed(api, workflow_id))
        jobs = app.list_jobs(limit=1000)
        for name, workflow_id in checks.items():
            states = api.get_workflow_task_states(workflow_id)
            items = {item.task_name: item.state for item in api.list_work_items(workflow_id)}
            ids = {item.id for item in api.list_work_items(workflow_id)}
            own = sorted(
                (job.function.rsplit(".", 1)[-1].rsplit(":", 1)[-1], job.state)
                for job in jobs
                if job.args.get("work_item_id") in ids
            )
            print(
                f"{name}: workflow {api.get_workflow_state(workflow_id)}; "
                f"verify {states['verify']} (item {items['verify']}), "
                f"timer {states['timer']} (item {items['timer']}); "
                f"check {check_of(app, workflow_id).status}"
            )
            print(f"  jobs: {', '.join(f'{fn} {state}' for fn, state in own)}")
    finally:
        app.close()


if __name__ == "__main__":
    main()
