"""The scopes, users and workflows the authorization tests share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tasquencer as tq
from tasquencer import Builder
from tasquencer.builder import WorkflowBuilder, WorkItemBuilder

ER = (
    tq.scopes("er")
    .scope("triage:write", description="Record a triage decision")
    .scope("triage:read")
    .module(tq.scopes("physician").scope("write", tags=("clinical",)))
)
ADMIN = tq.system_scopes("admin").scope("all")
SCOPES = [ER, ADMIN]
TRIAGE = "er:triage:write"
READ = "er:triage:read"
PHYSICIAN = "er:physician:write"

ANN = tq.User("ann", "Ann")
BOB = tq.User("bob", "Bob")
AGENT = tq.User("agent-1", "Summarizer", is_agent=True)


def one_work_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def single_task(item: WorkItemBuilder, name: str = "wf", task: str = "work") -> WorkflowBuilder:
    """start -> `task` (one work item when enabled) -> end."""
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task(task, Builder.task(item).with_activities(on_enabled=one_work_item))
        .connect_condition("start", lambda to: to.task(task))
        .connect_task(task, lambda to: to.condition("end"))
    )


def offered(
    offer: tq.Offer | Callable[[tq.WorkItemActivityContext], tq.Offer | None], **actions: Any
) -> WorkItemBuilder:
    """A work item with an offer and, by name, policies for its default actions."""
    builder = Builder.work_item_actions()
    for action, policy in actions.items():
        builder = getattr(builder, action)(policy=policy)
    item = Builder.work_item("item").with_offer(offer)
    return item.with_actions(builder) if actions else item


def register(app: tq.App, workflow: WorkflowBuilder) -> tq.WorkflowApi:
    return app.register(tq.versions(workflow.name).version("v1", workflow)).api("v1")


def only_item(api: tq.WorkflowApi, workflow_id: str) -> str:
    (item,) = api.list_work_items(workflow_id)
    return item.id


def staff(app: tq.App) -> None:
    """nurse (triage) held by the nurses group, of which Ann is a member; Bob holds nothing."""
    app.auth.create_role("nurse", [TRIAGE, READ])
    app.auth.create_group("nurses")
    app.auth.assign_role("nurse", group="nurses")
    app.auth.add_member("nurses", ANN.id)
