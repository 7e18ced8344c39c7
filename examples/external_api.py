"""Calling an external API from an action: business errors vs infrastructure errors.

A checkout charges a card through a payment gateway from a scheduled action. The two kinds of
errors are handled differently. A *business* error (the gateway answers "card declined") is a
final answer: the action fails the work item through `api.internal_fail_work_item`, and the
workflow takes its compensating path (release the stock, tell the customer). An
*infrastructure* error (timeout, connection refused) says nothing about the payment: the action
raises and the job is retried with exponential backoff (`retry=tq.Retry(...)`); on its last
attempt the action gives up and fails the work item so the order does not hang forever.
Retried actions run at least once, so the charge carries an idempotency key (the work item id).

Run it: `python examples/external_api.py`
"""

from __future__ import annotations

import logging
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

DEFAULT_RETRY = tq.Retry(attempts=4, initial_delay=10.0, max_delay=60.0)

# --- the user's own table --------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "external_api_orders"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card: Mapped[str] = mapped_column(String(40))
    amount_cents: Mapped[int]
    payment: Mapped[str] = mapped_column(String(20), default="pending")  # captured | declined
    charge_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decline_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(200), default="awaiting payment")


class NewOrder(pydantic.BaseModel):
    card: str
    amount_cents: int


class Captured(pydantic.BaseModel):
    charge_id: str


class Declined(pydantic.BaseModel):
    reason: str


# --- the payment gateway (a stand-in for an HTTP client) --------------------------------------

OK_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"


class CardDeclined(Exception):
    """The gateway's final answer: do not retry."""


class FakeGateway:
    """Declines `DECLINED_CARD`; times out `timeouts[card]` times before answering."""

    def __init__(self, timeouts: dict[str, int] | None = None) -> None:
        self.timeouts = dict(timeouts or {})
        self.calls: list[tuple[str, int, str]] = []
        self.charges: dict[str, str] = {}  # idempotency key -> charge id

    def charge(self, *, card: str, amount_cents: int, idempotency_key: str) -> str:
        self.calls.append((card, amount_cents, idempotency_key))
        if self.timeouts.get(card, 0) > 0:
            self.timeouts[card] -= 1
            raise TimeoutError("payment gateway did not answer within 10 s")
        if card == DECLINED_CARD:
            raise CardDeclined("card declined: insufficient funds")
        if idempotency_key not in self.charges:  # a retried request is charged once
            self.charges[idempotency_key] = f"ch_{uuid.uuid4().hex[:10]}"
        return self.charges[idempotency_key]


# --- the workflow and its functions ----------------------------------------------------------


def require_internal(ctx: tq.TransactionContext) -> None:
    """Custom actions replace the default ones, internal-only check included: keep it here."""
    if not ctx.is_internal:
        raise tq.NotInternalMutationError("only the engine and its jobs may call this action")


def load_order(ctx: tq.TransactionContext, workflow_id: str) -> Order:
    """The order of one checkout, read in the running transaction."""
    order = ctx.db.get(Order, workflow_id)
    if order is None:
        raise LookupError(f"checkout {workflow_id} has no order")
    return order


def build(
    app: tq.App, *, gateway: FakeGateway | None = None, retry: tq.Retry = DEFAULT_RETRY
) -> tq.WorkflowApi:
    Base.metadata.create_all(app.engine)
    gateway = gateway or FakeGateway()

    @app.action(name="external_api.charge_card", internal=True, retry=retry)
    def charge_card(
        ctx: tq.ActionContext, *, work_item_id: str, card: str, amount_cents: int
    ) -> None:
        try:
            charge_id = gateway.charge(
                card=card, amount_cents=amount_cents, idempotency_key=work_item_id
            )
        except CardDeclined as declined:
            # Business error: a final answer. Fail the work item; the workflow reacts.
            ctx.run_mutation(
                api.internal_fail_work_item,
                work_item_id=work_item_id,
                payload={"reason": str(declined)},
            )
            return
        except (TimeoutError, ConnectionError) as error:
            # Infrastructure error: raise, and the job runs again after a backoff...
            if ctx.attempt < retry.attempts:
                raise
            # ...unless this was the last attempt: then it becomes a business outcome.
            ctx.run_mutation(
                api.internal_fail_work_item,
                work_item_id=work_item_id,
                payload={"reason": f"payment gateway unavailable ({error})"},
            )
            return
        ctx.run_mutation(
            api.internal_complete_work_item,
            work_item_id=work_item_id,
            payload={"charge_id": charge_id},
        )

    def initialize_charge(ctx: tq.WorkItemActionContext, payload: None) -> None:
        require_internal(ctx)  # or anyone could start a second charge
        work_item_id = ctx.work_item.initialize()
        order = load_order(ctx, ctx.parent.workflow.id)
        ctx.register_scheduled(
            ctx.scheduler.run_after(
                0,
                charge_card,
                work_item_id=work_item_id,
                card=order.card,
                amount_cents=order.amount_cents,
            )
        )

    def captured(ctx: tq.WorkItemActionContext, payload: Captured) -> None:
        require_internal(ctx)
        order = load_order(ctx, ctx.parent.workflow.id)
        order.payment, order.charge_id = "captured", payload.charge_id

    def declined(ctx: tq.WorkItemActionContext, payload: Declined) -> None:
        require_internal(ctx)
        order = load_order(ctx, ctx.parent.workflow.id)
        order.payment, order.decline_reason = "declined", payload.reason

    charge = (
        Builder.work_item("charge")
        .with_actions(
            Builder.work_item_actions()
            .initialize(None, initialize_charge)
            .complete(Captured, captured)
            .fail(Declined, declined)
        )
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start())
    )

    def settle(ctx: tq.TaskPolicyContext) -> tq.PolicyDecision:
        """A failed charge completes the task too (the router picks the path).

        Decide on the counts, not on `ctx.transition`: the policy is also consulted right
        after the task starts, with a synthetic `started -> completed` transition.
        """
        stats = ctx.task.get_stats()
        finished = stats.completed + stats.failed + stats.canceled
        return "complete" if stats.total > 0 and finished == stats.total else "continue"

    def after_payment(ctx: tq.RouterContext) -> tq.Route:
        order = load_order(ctx, ctx.parent.workflow.id)
        return ctx.route.to_task("ship" if order.payment == "captured" else "compensate")

    def set_status(
        status: Callable[[Order], str],
    ) -> Callable[[tq.DummyTaskActivityContext], None]:
        def activity(ctx: tq.DummyTaskActivityContext) -> None:
            order = load_order(ctx, ctx.parent.workflow.id)
            order.status = status(order)

        return activity

    def place_order(ctx: tq.WorkflowInitializeContext, payload: NewOrder) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(
            Order(workflow_id=workflow_id, card=payload.card, amount_cents=payload.amount_cents)
        )

    checkout = (
        Builder.workflow("checkout")
        .with_actions(Builder.workflow_actions().initialize(NewOrder, place_order))
        .start_condition("start")
        .end_condition("end")
        .task(
            "charge",
            Builder.task(charge)
            .with_policy(settle)
            .with_split_type("xor")
            .with_activities(on_enabled=lambda ctx: ctx.work_item.initialize()),
        )
        .dummy_task(
            "ship",
            Builder.dummy_task().with_activities(
                on_completed=set_status(lambda order: "paid, shipping")
            ),
        )
        .dummy_task(
            "compensate",
            Builder.dummy_task().with_activities(
                on_completed=set_status(
                    lambda order: f"stock released, customer told: {order.decline_reason}"
                )
            ),
        )
        .connect_condition("start", lambda to: to.task("charge"))
        .connect_task("charge", lambda to: to.task("ship").task("compensate").route(after_payment))
        .connect_task("ship", lambda to: to.condition("end"))
        .connect_task("compensate", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("checkout").version("v1", checkout)).api("v1")
    return api


def order_of(app: tq.App, workflow_id: str) -> Order:
    with Session(app.engine) as session:
        order = session.get(Order, workflow_id)
        assert order is not None
        return order


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
    retry: tq.Retry = tq.Retry(attempts=3, initial_delay=0.2, max_delay=0.5),  # noqa: B008
) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-external-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    flaky_card = "5555 5555 5555 4444"
    down_card = "3782 822463 10005"
    gateway = FakeGateway(timeouts={flaky_card: retry.attempts - 1, down_card: 99})
    try:
        api = build(app, gateway=gateway, retry=retry)
        orders = {
            label: api.initialize_root_workflow({"card": card, "amount_cents": 1999})
            for label, card in [
                ("good card", OK_CARD),
                ("declined", DECLINED_CARD),
                ("flaky gateway", flaky_card),
                ("gateway down", down_card),
            ]
        }
        with app.start_worker(poll_interval=0.2):
            for workflow_id in orders.values():
                wait_until(completed(api, workflow_id))
        jobs = {
            job.args["work_item_id"]: job
            for job in app.list_jobs(function="external_api.charge_card")
        }
        for label, workflow_id in orders.items():
            (item,) = api.list_work_items(workflow_id, task_name="charge")
            job = jobs[item.id]
            order = order_of(app, workflow_id)
            print(
                f"{label:<14} charge {item.state:<9} job {job.state} after {job.attempts} "
                f"attempt(s); order: {order.status}"
            )
    finally:
        app.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="  [%(name)s] %(message)s")
    main()
