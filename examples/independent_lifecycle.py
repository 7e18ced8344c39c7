"""Independent lifecycle: notifications scheduled from teardown activities outlive the element.

When a shipment work item completes, fails or is canceled, its teardown activity
(`on_completed` / `on_failed` / `on_canceled`) updates the order inline and schedules a customer
notification with `ctx.scheduler.run_after(...)` directly. Such a job is not tied to anything:
it runs after the work item — even the whole workflow — is finished.

`ctx.register_scheduled` is refused in teardown activities: the element is being torn down, so
a job tied to it would be canceled at once. The engine raises
`tq.RegisterScheduledNotAllowedError` (telling you to use `ctx.scheduler`) and rolls the call
back; `build(app, wrong_way=True)` shows it.

Run it: `python examples/independent_lifecycle.py`
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

# --- the user's own tables -------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "independent_orders"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))


class Notification(Base):
    """A message the customer got (written by the notification action)."""

    __tablename__ = "independent_notifications"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("independent_orders.workflow_id"))
    kind: Mapped[str] = mapped_column(String(30))


class NewOrder(pydantic.BaseModel):
    customer: str


# --- the workflow and its functions ----------------------------------------------------------


def load_order(ctx: tq.TransactionContext, order_id: str) -> Order:
    """An order, read in the running transaction."""
    order = ctx.db.get(Order, order_id)
    if order is None:
        raise LookupError(f"there is no order {order_id}")
    return order


def build(app: tq.App, *, wrong_way: bool = False) -> tq.WorkflowApi:
    """Create the tables and register everything; returns the workflow's API.

    `wrong_way=True` ties the notifications to the work item with `ctx.register_scheduled`,
    which the engine refuses in teardown activities.
    """
    Base.metadata.create_all(app.engine)

    @app.mutation(name="independent_lifecycle.record_notification", internal=True)
    def record_notification(ctx: tq.MutationContext, *, order_id: str, kind: str) -> None:
        ctx.db.add(Notification(order_id=order_id, kind=kind))

    @app.action(name="independent_lifecycle.notify_customer", internal=True)
    def notify_customer(ctx: tq.ActionContext, *, order_id: str, kind: str) -> None:
        # Send the email / SMS / push here (I/O is fine in an action), then record it.
        ctx.run_mutation(record_notification, order_id=order_id, kind=kind)

    def teardown(status: str, kind: str) -> Callable[[tq.WorkItemTeardownContext], None]:
        """A teardown activity: inline domain update, then a notification that outlives us."""

        def activity(ctx: tq.WorkItemTeardownContext) -> None:
            order_id = ctx.parent.workflow.id
            load_order(ctx, order_id).status = status
            job_id = ctx.scheduler.run_after(0, notify_customer, order_id=order_id, kind=kind)
            if wrong_way:
                # A teardown context has no register_scheduled (mypy says so); at run time
                # the engine refuses it too, with RegisterScheduledNotAllowedError.
                getattr(ctx, "register_scheduled")(job_id)  # noqa: B009

        return activity

    shipment = Builder.work_item("shipment").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(),
        on_completed=teardown("shipped", "shipped"),
        on_failed=teardown("shipping failed", "shipping_failed"),
        on_canceled=teardown("canceled", "order_canceled"),
    )

    def place_order(ctx: tq.WorkflowInitializeContext, order: NewOrder) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(Order(workflow_id=workflow_id, customer=order.customer, status="placed"))

    order_shipping = (
        Builder.workflow("order_shipping")
        .with_actions(Builder.workflow_actions().initialize(NewOrder, place_order))
        .start_condition("start")
        .end_condition("end")
        .task(
            "ship",
            Builder.task(shipment).with_activities(
                on_enabled=lambda ctx: ctx.work_item.initialize()
            ),
        )
        .connect_condition("start", lambda to: to.task("ship"))
        .connect_task("ship", lambda to: to.condition("end"))
    )
    return app.register(tq.versions("order_shipping").version("v1", order_shipping)).api("v1")


def notifications_of(app: tq.App, order_id: str) -> list[str]:
    with Session(app.engine) as session:
        query = select(Notification.kind).where(Notification.order_id == order_id)
        return list(session.scalars(query.order_by(Notification.id)))


def order_status(app: tq.App, order_id: str) -> str:
    with Session(app.engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status


# --- run it ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(0.05)


def notified(app: tq.App, order_id: str) -> Callable[[], bool]:
    """The condition `wait_until` waits for: the customer got a notification."""
    return lambda: bool(notifications_of(app, order_id))


def main(directory: Path | None = None) -> None:
    directory = directory or Path(tempfile.mkdtemp(prefix="tq-independent-"))
    app = tq.App(f"sqlite:///{directory / 'app.db'}")
    try:
        api = build(app)
        with app.start_worker(poll_interval=0.2):
            orders = {}
            for customer, finish in [
                ("ada", "complete"),
                ("bob", "fail"),
                ("cy", "cancel the workflow"),
            ]:
                order_id = api.initialize_root_workflow({"customer": customer})
                (item,) = api.list_work_items(order_id)
                if finish == "complete":
                    api.internal_complete_work_item(item.id)
                elif finish == "fail":
                    api.internal_fail_work_item(item.id)
                else:
                    api.internal_cancel_root_workflow(order_id)
                orders[customer] = order_id
            for customer, order_id in orders.items():
                wait_until(notified(app, order_id))
                print(
                    f"order of {customer}: workflow {api.get_workflow_state(order_id)}, "
                    f"order {order_status(app, order_id)}, "
                    f"notified {notifications_of(app, order_id)} afterwards"
                )
    finally:
        app.close()

    # The wrong way: register_scheduled in a teardown activity is refused.
    wrong = tq.App(f"sqlite:///{directory / 'wrong.db'}")
    try:
        api = build(wrong, wrong_way=True)
        order_id = api.initialize_root_workflow({"customer": "dee"})
        (item,) = api.list_work_items(order_id)
        try:
            api.internal_complete_work_item(item.id)
        except tq.RegisterScheduledNotAllowedError as error:
            print(f"wrong way refused: {error}")
        print(f"  (rolled back: work item still {api.get_work_item_state(item.id)})")
    finally:
        wrong.close()


if __name__ == "__main__":
    main()
