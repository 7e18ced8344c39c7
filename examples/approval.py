"""The README's example: a review whose decision routes the process (XOR split).

A reviewer decides through a custom `complete` action whose payload is validated by a pydantic
model; the decision is stored in the user's own table (`approval_reviews`) in the same
transaction, and the router reads it to choose between publishing and rejecting.

Run it: `python examples/approval.py`
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydantic
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import tasquencer as tq
from tasquencer import Builder


class Base(DeclarativeBase):
    pass


class Review(Base):
    __tablename__ = "approval_reviews"

    workflow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    approved: Mapped[bool]


class Decision(pydantic.BaseModel):
    approve: bool


def load_review(ctx: tq.TransactionContext, workflow_id: str) -> Review:
    """The review of one workflow instance, read in the running transaction."""
    review = ctx.db.get(Review, workflow_id)
    if review is None:
        raise LookupError(f"workflow {workflow_id} has no recorded review")
    return review


def record_decision(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    """A custom action: anyone may call it; it runs inside the call's transaction."""
    ctx.db.add(Review(workflow_id=ctx.parent.workflow.id, approved=decision.approve))
    ctx.work_item.complete()


def choose(ctx: tq.RouterContext) -> tq.Route:
    review = load_review(ctx, ctx.parent.workflow.id)
    return ctx.route.to_task("publish" if review.approved else "reject")


def start_at_once(ctx: tq.WorkItemActivityContext) -> None:
    ctx.work_item.start()


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


review = (
    Builder.work_item("review")
    .with_actions(Builder.work_item_actions().complete(Decision, record_decision))
    .with_activities(on_initialized=start_at_once)
)
follow_up = Builder.work_item("follow_up").with_activities(on_initialized=start_at_once)

approval = (
    Builder.workflow("approval")
    .start_condition("start")
    .end_condition("end")
    .task(
        "review",
        Builder.task(review).with_split_type("xor").with_activities(on_enabled=one_work_item),
    )
    .task("publish", Builder.task(follow_up).with_activities(on_enabled=one_work_item))
    .task("reject", Builder.task(follow_up).with_activities(on_enabled=one_work_item))
    .connect_condition("start", lambda to: to.task("review"))
    .connect_task("review", lambda to: to.task("publish").task("reject").route(choose))
    .connect_task("publish", lambda to: to.condition("end"))
    .connect_task("reject", lambda to: to.condition("end"))
)


def build(app: tq.App) -> tq.WorkflowApi:
    Base.metadata.create_all(app.engine)
    return app.register(tq.versions("approval").version("v1", approval)).api("v1")


def main(database: Path | None = None) -> str:
    database = database or Path(tempfile.mkdtemp()) / "approval.db"
    with tq.App(f"sqlite:///{database}") as app:
        api = build(app)
        workflow_id = api.internal_initialize_root_workflow()
        (item,) = api.list_work_items(workflow_id, task_name="review")
        # validated by Decision; answers the work items the call created: publish's
        (publish,) = api.complete_work_item(item.id, {"approve": True})
        api.internal_complete_work_item(publish.id)
        print(api.get_workflow_task_states(workflow_id), api.get_workflow_state(workflow_id))
        return workflow_id


if __name__ == "__main__":
    main()
