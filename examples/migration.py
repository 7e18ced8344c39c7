"""Moving running instances to a new version of their workflow, without losing their place.

Version 1 of an order process picks the goods and ships them. Version 2 adds a packing step
between the two. Orders already running on v1 are migrated: the order row is re-linked to the
new instance (the migration's initializer), picking is fast-forwarded where the order says it
is done (the migrators read the user's own table), and the new packing step is left to do.
A finalizer records, once a migrated order ends, how it ended.

Run it: `python examples/migration.py`
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import tasquencer as tq
from tasquencer import Builder
from tasquencer.builder.workflow import TaskFlowBuilder


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "migration_orders"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(32), unique=True)
    picked: Mapped[bool] = mapped_column(default=False)
    history: Mapped[str] = mapped_column(String(400), default="")


def order_of(ctx: tq.TransactionContext, workflow_id: str) -> Order:
    """The order a workflow instance runs for, read in the running transaction."""
    order = ctx.db.query(Order).filter_by(workflow_id=workflow_id).one_or_none()
    if order is None:
        raise LookupError(f"no order is run by workflow {workflow_id}")
    return order


def open_order(ctx: tq.WorkflowInitializeContext, number: str) -> None:
    ctx.db.add(Order(number=number, workflow_id=ctx.workflow.initialize()))


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def record_pick(ctx: tq.WorkItemTeardownContext) -> None:
    order_of(ctx, ctx.parent.workflow.id).picked = True


def step(name: str) -> tq.builder.TaskBuilder:
    item = Builder.work_item(name)
    if name == "pick":
        item = item.with_activities(on_completed=record_pick)
    return Builder.task(item).with_activities(on_enabled=one_work_item)


def order_process(*steps: str) -> tq.builder.WorkflowBuilder:
    workflow = (
        Builder.workflow("order")
        .with_actions(Builder.workflow_actions().initialize(str, open_order))
        .start_condition("start")
        .end_condition("end")
    )
    for name in steps:
        workflow = workflow.task(name, step(name))
    workflow = workflow.connect_condition("start", lambda to: to.task(steps[0]))
    for first, second in itertools.pairwise(steps):
        workflow = workflow.connect_task(first, _to_task(second))
    return workflow.connect_task(steps[-1], lambda to: to.condition("end"))


def _to_task(name: str) -> Callable[[TaskFlowBuilder], object]:
    return lambda to: to.task(name)


v1 = order_process("pick", "ship")
v2 = order_process("pick", "pack", "ship")


def relink(ctx: tq.MigrationInitializerContext) -> None:
    """The order row follows its process to the new instance."""
    order = order_of(ctx, ctx.migrating_from_workflow.id)
    order.workflow_id = ctx.workflow.id
    order.history += "migrated to v2; "


def picking(ctx: tq.TaskMigratorContext) -> tq.MigrationMode:
    """Picking done before the migration stays done; otherwise it goes on as usual (its
    on_enabled creates the work item). Tasks without a migrator (pack, ship) go on too."""
    if order_of(ctx, ctx.parent.workflow.id).picked:
        return tq.MigrationMode.FAST_FORWARD
    return tq.MigrationMode.CONTINUE


def ended(ctx: tq.MigrationFinalizerContext) -> None:
    order_of(ctx, ctx.workflow.id).history += f"ended {ctx.result.state}"


versions = (
    tq.versions("order")
    .version("v1", v1)
    .version("v2", v2)
    .with_migration(
        "v1->v2",
        tq.migrate(v1, v2)
        .with_initializer(relink)
        .with_finalizer(ended)
        .with_task_migrators({"order/pick": picking}),
    )
)


def build(app: tq.App) -> tq.WorkflowVersions:
    Base.metadata.create_all(app.engine)
    return app.register(versions)


def histories(ctx: tq.QueryContext) -> dict[str, str]:
    return {order.number: order.history for order in ctx.db.query(Order)}


def finish(api: tq.WorkflowApi, workflow_id: str, task: str) -> None:
    (item,) = api.list_work_items(workflow_id, task_name=task, state="initialized")
    api.internal_start_work_item(item.id)
    api.internal_complete_work_item(item.id)


def main(database: Path | None = None) -> dict[str, str]:
    """Run two orders on v1, migrate them, finish them on v2; returns their histories."""
    database = database or Path(tempfile.mkdtemp()) / "migration.db"
    with tq.App(f"sqlite:///{database}") as app:
        registered = build(app)
        app.query(histories)
        old, new = registered.api("v1"), registered.api("v2")
        a1 = old.initialize_root_workflow("A-1")
        a2 = old.initialize_root_workflow("A-2")
        finish(old, a1, "pick")  # A-1 is picked; A-2 is not yet

        for outcome in app.migrate_all("order", from_version="v1", to_version="v2"):
            assert outcome.new_workflow_id is not None, outcome.error
            states = new.get_workflow_task_states(outcome.new_workflow_id)
            print(f"{outcome.workflow_id} -> {outcome.new_workflow_id}: {states}")
        a1 = new.get_workflow_snapshot(a1).migrated_to or ""
        a2 = new.get_workflow_snapshot(a2).migrated_to or ""
        for task in ("pack", "ship"):
            finish(new, a1, task)
        for task in ("pick", "pack", "ship"):
            finish(new, a2, task)
        ended_with = app.run_query(histories)
        print(ended_with)
        return ended_with


if __name__ == "__main__":
    main()
