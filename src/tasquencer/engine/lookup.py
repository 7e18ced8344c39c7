"""Finding the elements an API call names: ids and targets, checked against the workflow type.

An API belongs to one workflow (all its versions): an id of another workflow's instance is as
unknown to it as an id that does not exist, for reads and commands alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from tasquencer import arguments
from tasquencer.engine.definitions import TaskDef, WorkflowDef
from tasquencer.engine.execution import Execution, VersionLookup
from tasquencer.engine.instances import TaskInstance, WorkflowInstance, WorkItemInstance
from tasquencer.errors import (
    ElementNotFoundInPathError,
    StructuralIntegrityError,
    WorkflowNotFoundError,
    WorkItemCannotHaveChildrenError,
    WorkItemNotFoundError,
    describe,
)
from tasquencer.records import Target


def workflow(
    ex: Execution, workflow_name: str, workflow_id: object, argument: str = "workflow_id"
) -> WorkflowInstance:
    """The instance (root or child) of a `workflow_name` workflow with this id."""
    given = id_to_find(workflow_id, argument)
    found = ex.find_workflow(given) if given is not None else None
    if found is None or found.row.path[0] != workflow_name:
        raise no_workflow(workflow_name, workflow_id)
    return found


def id_to_find(value: object, argument: str) -> str | None:
    """The id to look up (it must be a str), or None when it can name no row."""
    given = arguments.string(value, argument)
    return given if arguments.could_be_an_id(given) else None


def no_workflow(workflow_name: str, workflow_id: object) -> WorkflowNotFoundError:
    return WorkflowNotFoundError(f"there is no {workflow_name!r} workflow {describe(workflow_id)}")


def no_work_item(workflow_name: str, work_item_id: object) -> WorkItemNotFoundError:
    return WorkItemNotFoundError(
        f"there is no work item {describe(work_item_id)} in a {workflow_name!r} workflow"
    )


def stored_definition(
    versions: VersionLookup, workflow_id: str, path: tuple[str, ...], version_name: str
) -> WorkflowDef:
    """The definition an instance's stored path and version name refer to (reads that see
    only its columns, not its row; `Execution` does the same for the rows it loads)."""
    definition = versions(path[0], version_name).workflow_at(path)
    if definition is None:
        raise StructuralIntegrityError(
            f"workflow {workflow_id} has path {list(path)}, which version "
            f"{version_name!r} of {path[0]!r} does not define"
        )
    return definition


def root_workflow(ex: Execution, workflow_name: str, workflow_id: object) -> WorkflowInstance:
    found = workflow(ex, workflow_name, workflow_id)
    if not found.row.is_root:
        raise StructuralIntegrityError(
            f"workflow {found.id} is a child workflow (of {found.row.parent_workflow_id}); "
            "cancel it with cancel_workflow"
        )
    return found


def work_item(ex: Execution, workflow_name: str, work_item_id: object) -> WorkItemInstance:
    """The work item with this id, in an instance of a `workflow_name` workflow."""
    given = id_to_find(work_item_id, "work_item_id")
    row = ex.uow.work_item(given) if given is not None else None
    if row is None or ex.workflow(row.workflow_id).row.path[0] != workflow_name:
        raise no_work_item(workflow_name, work_item_id)
    return ex.work_item_of(row)


def work_item_target(
    ex: Execution, workflow_name: str, given: Target | Mapping[str, object]
) -> TaskInstance:
    """The task a target names for a new work item."""
    task, path = _target(ex, workflow_name, given)
    tdef, leaf = task.definition, path[-1]
    if tdef.work_item is None or tdef.work_item.name != leaf:
        raise ElementNotFoundInPathError(_not_a(tdef, leaf, "work item"))
    return task


def child_workflow_target(
    ex: Execution, workflow_name: str, given: Target | Mapping[str, object]
) -> tuple[TaskInstance, WorkflowDef]:
    """The composite task a target names, and the child workflow definition it names."""
    task, path = _target(ex, workflow_name, given)
    tdef, leaf = task.definition, path[-1]
    if tdef.work_item is not None and tdef.work_item.name == leaf:
        raise WorkItemCannotHaveChildrenError(
            f"{describe(list(path))} names work item {leaf!r}, not a child workflow"
        )
    child = tdef.children.get(leaf)
    if child is None:
        raise ElementNotFoundInPathError(_not_a(tdef, leaf, "child workflow"))
    return task, child


def _target(
    ex: Execution, workflow_name: str, given: Target | Mapping[str, object]
) -> tuple[TaskInstance, tuple[str, ...]]:
    """Check a target and return the task it goes through and the target's path."""
    target = Target.of(given)
    path = target.path
    wf = workflow(ex, workflow_name, target.parent_workflow_id, "target's parent_workflow_id")
    if len(path) < 3 or path[-2] != target.parent_task_name:
        raise ElementNotFoundInPathError(
            f"the target path {describe(list(path))} does not go through task "
            f"{describe(target.parent_task_name)} (its second-to-last element must name it)"
        )
    if tuple(wf.row.path) != path[:-2]:
        raise ElementNotFoundInPathError(
            f"workflow {wf.id} is at {list(wf.row.path)}, but the target path "
            f"{describe(list(path))} expects a workflow at {describe(list(path[:-2]))}"
        )
    if target.parent_task_name not in wf.definition.tasks:
        raise ElementNotFoundInPathError(
            f"workflow {wf.definition.name!r} has no task {describe(target.parent_task_name)}"
        )
    return wf.task(target.parent_task_name), path


def _not_a(tdef: TaskDef, leaf: str, what: str) -> str:
    if tdef.work_item is not None:
        offers = f"its work item is {tdef.work_item.name!r}"
    elif tdef.children:
        offers = "its child workflows are " + ", ".join(map(repr, tdef.children))
    else:
        offers = "it is a dummy task"
    return f"task {tdef.name!r} has no {what} {describe(leaf)}; {offers}"
