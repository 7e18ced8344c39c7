"""What can make a case wait forever: tasks whose children nothing creates, and instances in
which nothing can happen any more. Shown by `tasquencer validate` and `tasquencer inspect`."""

from __future__ import annotations

from tasquencer.engine.definitions import CompiledVersion, TaskDef, WorkflowDef
from tasquencer.engine.instances import WorkflowInstance

ACTIVE = ("enabled", "started")


def definition_warnings(version: CompiledVersion) -> list[str]:
    """Tasks that create no children by themselves: each stays enabled until code outside the
    engine calls `api.initialize_work_item` / `api.initialize_workflow` for it."""
    return [
        _silent(workflow, task)
        for workflow in version.workflows.values()
        for task in workflow.tasks.values()
        if _creates_nothing(task)
    ]


def instance_warnings(workflow: WorkflowInstance) -> list[str]:
    """Why an instance that is not finished may wait forever, if it can."""
    if workflow.row.state not in ("initialized", "started"):
        return []
    warnings = []
    tasks = list(workflow.tasks())
    if (
        not any(t.row.state in ACTIVE for t in tasks)
        and not workflow.marking()[workflow.definition.net.end]
    ):
        warnings.append(
            "nothing can happen any more: no task is enabled or started and the end condition "
            f"holds no token; cancel the case (api.cancel_root_workflow({workflow.id!r}))"
        )
    uow = workflow.ex.uow
    for task in tasks:
        if task.row.state != "enabled" or not _creates_nothing(task.definition):
            continue
        counts = uow.stats(workflow.id, task.name, task.row.generation)
        if counts[0] == 0:
            children = "work items" if task.definition.kind == "task" else "child workflows"
            warnings.append(
                f"task {task.name!r} is enabled (generation {task.row.generation}) with no "
                f"{children}, and nothing in the definition creates them"
            )
    return warnings


def _creates_nothing(task: TaskDef) -> bool:
    if task.kind == "dummy":
        return False
    return task.activities.get("on_enabled") is None


def _silent(workflow: WorkflowDef, task: TaskDef) -> str:
    children, call = (
        ("work items", "api.initialize_work_item")
        if task.kind == "task"
        else ("child workflows", "api.initialize_workflow")
    )
    return (
        f"{'/'.join(workflow.path)}: task {task.name!r} creates no {children} by itself (it "
        f"has no on_enabled activity): once enabled it waits until your code calls {call} "
        "for it"
    )
