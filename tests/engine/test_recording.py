"""Every creation and change goes through one seam: the execution's `Recorder` sees all of it.

A recorder that replays what it was told must end up with exactly what the store holds: the
workflows (root and child) with their states, every task's state and generation, every
condition's marking, every work item's state.
"""

from __future__ import annotations

from typing import Any

import tasquencer as tq
from tasquencer import Builder
from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
from tasquencer.engine.recording import NullRecorder
from tasquencer.runtime.functions import MutationCtx
from tests.helpers import auto_task


class Replay(NullRecorder):
    """A recorder that rebuilds the state from the events it receives."""

    def __init__(self) -> None:
        self.workflows: dict[str, str] = {}
        self.tasks: dict[tuple[str, str], tuple[str, int]] = {}
        self.markings: dict[tuple[str, str], int] = {}
        self.work_items: dict[str, str] = {}

    def workflow_created(self, workflow: WorkflowInstance) -> None:
        self.workflows[workflow.id] = workflow.row.state
        for task in workflow.tasks():
            self.tasks[(workflow.id, task.name)] = (task.row.state, task.row.generation)
        for condition, marking in workflow.marking().items():
            self.markings[(workflow.id, condition)] = marking

    def workflow_changed(self, workflow: WorkflowInstance, prev: str) -> None:
        assert self.workflows[workflow.id] == prev
        self.workflows[workflow.id] = workflow.row.state

    def task_changed(self, task: TaskInstance, prev: str) -> None:
        assert self.tasks[(task.workflow.id, task.name)][0] == prev
        self.tasks[(task.workflow.id, task.name)] = (task.row.state, task.row.generation)

    def marking_changed(self, workflow: WorkflowInstance, condition: str, prev: int) -> None:
        assert self.markings[(workflow.id, condition)] == prev
        self.markings[(workflow.id, condition)] = workflow.marking()[condition]

    def work_item_created(self, item: WorkItemInstance) -> None:
        self.work_items[item.id] = item.row.state

    def work_item_changed(self, item: WorkItemInstance, prev: str) -> None:
        assert self.work_items[item.id] == prev
        self.work_items[item.id] = item.row.state


def review_process() -> Any:
    child = (
        Builder.workflow("legal")
        .start_condition("start")
        .end_condition("end")
        .task("check", auto_task())
        .connect_condition("start", lambda to: to.task("check"))
        .connect_task("check", lambda to: to.condition("end"))
    )

    def start_child(ctx: tq.CompositeTaskActivityContext) -> None:
        ctx.workflow.initialize()

    return (
        Builder.workflow("review")
        .start_condition("start")
        .end_condition("end")
        .task("draft", auto_task())
        .composite_task(
            "legal", Builder.composite_task(child).with_activities(on_enabled=start_child)
        )
        .task("publish", auto_task())
        .connect_condition("start", lambda to: to.task("draft"))
        .connect_task("draft", lambda to: to.task("legal").task("publish"))
        .connect_task("legal", lambda to: to.condition("end"))
        .connect_task("publish", lambda to: to.condition("end"))
    )


def test_a_recorder_sees_every_creation_and_change(app):
    api = app.register(tq.versions("review").version("v1", review_process())).api("v1")
    replay = Replay()

    def drive(ctx: tq.MutationContext) -> str:
        workflow_id = api.internal_initialize_root_workflow(ctx=ctx)
        for _ in range(3):  # draft, then the child's check and publish
            for item in api.list_work_items(workflow_id, ctx=ctx):
                if item.state == "started":
                    api.internal_complete_work_item(item.id, ctx=ctx)
            for child in api.list_child_workflows(workflow_id, ctx=ctx):
                for item in api.list_work_items(child.id, ctx=ctx):
                    if item.state == "started":
                        api.internal_complete_work_item(item.id, ctx=ctx)
        return workflow_id

    with app.transaction() as tx:
        tx.execution.recorder = replay
        workflow_id = drive(MutationCtx(tx))

    snapshot = api.get_workflow_snapshot(workflow_id)
    (child,) = snapshot.child_workflows
    child_snapshot = api.get_workflow_snapshot(child.id)
    assert snapshot.state == "completed"
    assert replay.workflows == {workflow_id: "completed", child.id: "completed"}
    for shot in (snapshot, child_snapshot):
        for name, task in shot.tasks.items():
            assert replay.tasks[(shot.id, name)] == (task.state, task.generation), name
        for name, marking in shot.conditions.items():
            assert replay.markings[(shot.id, name)] == marking, name
    items = {i.id: i.state for s in (snapshot, child_snapshot) for i in s.work_items}
    assert replay.work_items == items
