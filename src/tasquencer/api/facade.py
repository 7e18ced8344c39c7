"""The API of one workflow version: public methods, their `internal_` twins, and reads.

Every method is a registered function of the app, so it can be called directly (its own
transaction), inside another call with `ctx=ctx`, from `app.run_mutation`, or scheduled:
`ctx.scheduler.run_after(60, api.internal_complete_work_item, work_item_id=wid)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tasquencer.api import reads
from tasquencer.api.records import (
    ChildWorkflow,
    Target,
    WorkflowRecord,
    WorkflowSnapshot,
    WorkItem,
)
from tasquencer.engine import work_items, workflows
from tasquencer.engine.definitions import CompiledVersion, TaskDef, WorkflowDef, describe_structure
from tasquencer.errors import (
    ElementNotFoundInPathError,
    StructuralIntegrityError,
    WorkflowNotFoundError,
    WorkItemCannotHaveChildrenError,
    WorkItemNotFoundError,
)
from tasquencer.runtime.functions import transaction_of
from tasquencer.runtime.registry import FunctionDef, FunctionKind
from tasquencer.runtime.transaction import TreeHint
from tasquencer.store.rows import TaskRow, WorkflowRow, WorkItemRow

if TYPE_CHECKING:
    from tasquencer.runtime.app import App
    from tasquencer.runtime.transaction import Transaction

Impl = Callable[..., Any]
R = TypeVar("R")


class ApiFunction(Generic[R]):
    """One API method of one version, registered with the app under a stable name.

    `R` is what a call returns, so type checkers see `api.list_work_items(...)` as a list of
    `WorkItem` records.
    """

    def __init__(
        self,
        app: App,
        name: str,
        kind: FunctionKind,
        impl: Impl,
        internal: bool,
        trees: Callable[[dict[str, Any]], list[TreeHint]] | None = None,
    ):
        self._app = app
        self._kind = kind
        self._impl = impl
        self.__name__ = self.__qualname__ = name.rsplit(":", 1)[-1]
        self.__doc__ = impl.__doc__
        self.__signature__ = _signature_without_first(impl)
        self._positional = tuple(self.__signature__.parameters)
        definition = FunctionDef(name, kind, self._run_registered, internal=internal, trees=trees)
        app.registry.add(self, definition)

    def __call__(self, *args: Any, ctx: Any = None, **kwargs: Any) -> R:
        if args:
            if len(args) > len(self._positional):
                raise TypeError(
                    f"{self.__name__}() takes {len(self._positional)} arguments, got {len(args)}"
                )
            for name, value in zip(self._positional, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{self.__name__}() got two values for {name!r}")
                kwargs[name] = value
        if ctx is None:
            if self._kind == "mutation":
                return self._app.run_mutation(self, **kwargs)  # type: ignore[no-any-return]
            return self._app.run_query(self, **kwargs)  # type: ignore[no-any-return]
        return self._run(transaction_of(ctx, writable=self._kind == "mutation"), kwargs)

    def _run_registered(self, ctx: Any, **kwargs: Any) -> Any:
        return self._run(transaction_of(ctx, writable=self._kind == "mutation"), kwargs)

    def _run(self, tx: Transaction, kwargs: dict[str, Any]) -> R:
        if self._kind == "query":
            tx.uow.flush()
        return self._impl(tx, **kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<tasquencer API method {self.__name__}>"


def _signature_without_first(fn: Impl) -> inspect.Signature:
    return inspect.Signature(list(inspect.signature(fn).parameters.values())[1:])


class WorkflowApi:
    """`versions.api("v1")`: drive and read instances of one workflow version."""

    initialize_root_workflow: ApiFunction[str]
    internal_initialize_root_workflow: ApiFunction[str]
    cancel_root_workflow: ApiFunction[None]
    internal_cancel_root_workflow: ApiFunction[None]
    initialize_workflow: ApiFunction[str]
    internal_initialize_workflow: ApiFunction[str]
    cancel_workflow: ApiFunction[None]
    internal_cancel_workflow: ApiFunction[None]
    initialize_work_item: ApiFunction[str]
    internal_initialize_work_item: ApiFunction[str]
    start_work_item: ApiFunction[None]
    internal_start_work_item: ApiFunction[None]
    complete_work_item: ApiFunction[None]
    internal_complete_work_item: ApiFunction[None]
    fail_work_item: ApiFunction[None]
    internal_fail_work_item: ApiFunction[None]
    cancel_work_item: ApiFunction[None]
    internal_cancel_work_item: ApiFunction[None]
    reset_work_item: ApiFunction[None]
    internal_reset_work_item: ApiFunction[None]
    get_workflow_state: ApiFunction[str]
    get_work_item_state: ApiFunction[str]
    get_workflow_task_states: ApiFunction[dict[str, str]]
    get_workflow_snapshot: ApiFunction[WorkflowSnapshot]
    list_work_items: ApiFunction[list[WorkItem]]
    list_child_workflows: ApiFunction[list[ChildWorkflow]]
    list_workflows: ApiFunction[list[WorkflowRecord]]
    get_workflow_structure: ApiFunction[dict[str, Any]]

    def __init__(self, app: App, version: CompiledVersion) -> None:
        self.app = app
        self.version = version
        prefix = f"tasquencer.api:{version.workflow_name}:{version.version_name}"
        commands = _Commands(version)
        for name in _COMMANDS:
            for internal in (False, True):
                method = f"internal_{name}" if internal else name
                impl = _bind_internal(getattr(commands, name), internal)
                function: ApiFunction[Any] = ApiFunction(
                    app, f"{prefix}:{method}", "mutation", impl, internal, _TREE_OF.get(name)
                )
                setattr(self, method, function)
        queries = _Queries(version)
        for name in _QUERIES:
            impl = getattr(queries, name)
            query: ApiFunction[Any] = ApiFunction(app, f"{prefix}:{name}", "query", impl, False)
            setattr(self, name, query)

    def __repr__(self) -> str:
        return f"<WorkflowApi {self.version.workflow_name} {self.version.version_name}>"


_COMMANDS = (
    "initialize_root_workflow",
    "cancel_root_workflow",
    "initialize_workflow",
    "cancel_workflow",
    "initialize_work_item",
    "start_work_item",
    "complete_work_item",
    "fail_work_item",
    "cancel_work_item",
    "reset_work_item",
)
_QUERIES = (
    "get_workflow_state",
    "get_work_item_state",
    "get_workflow_task_states",
    "get_workflow_snapshot",
    "list_work_items",
    "list_child_workflows",
    "list_workflows",
    "get_workflow_structure",
)


def _tree_of_work_item(kwargs: dict[str, Any]) -> list[TreeHint]:
    work_item_id = kwargs.get("work_item_id")
    return [("work_item", work_item_id)] if isinstance(work_item_id, str) else []


def _tree_of_workflow(kwargs: dict[str, Any]) -> list[TreeHint]:
    workflow_id = kwargs.get("workflow_id")
    return [("workflow", workflow_id)] if isinstance(workflow_id, str) else []


def _tree_of_target(kwargs: dict[str, Any]) -> list[TreeHint]:
    target = kwargs.get("target")
    parent = target.get("parent_workflow_id") if isinstance(target, dict) else None
    if isinstance(target, Target):
        parent = target.parent_workflow_id
    return [("workflow", parent)] if isinstance(parent, str) else []


# How each API method finds the workflow tree it works on (see runtime.runner).
_TREE_OF: dict[str, Callable[[dict[str, Any]], list[TreeHint]]] = {
    "cancel_root_workflow": _tree_of_workflow,
    "cancel_workflow": _tree_of_workflow,
    "initialize_workflow": _tree_of_target,
    "initialize_work_item": _tree_of_target,
    "start_work_item": _tree_of_work_item,
    "complete_work_item": _tree_of_work_item,
    "fail_work_item": _tree_of_work_item,
    "cancel_work_item": _tree_of_work_item,
    "reset_work_item": _tree_of_work_item,
}


def _bind_internal(method: Impl, internal: bool) -> Impl:
    """`method(tx, internal, ...)` with `internal` fixed, keeping the rest of its signature."""

    def bound(tx: Transaction, *args: Any, **kwargs: Any) -> Any:
        return method(tx, internal, *args, **kwargs)

    parameters = list(inspect.signature(method).parameters.values())
    bound.__signature__ = inspect.Signature([parameters[0], *parameters[2:]])  # type: ignore[attr-defined]
    bound.__doc__ = method.__doc__
    return bound


class _Commands:
    """The state-changing methods; `internal` is True for the `internal_` twins."""

    def __init__(self, version: CompiledVersion) -> None:
        self.version = version

    def initialize_root_workflow(self, tx: Transaction, internal: bool, payload: Any = None) -> str:
        """Start a new instance of this version; returns its id."""
        return workflows.initialize_root(tx.execution, self.version, payload, internal=internal)

    def cancel_root_workflow(
        self, tx: Transaction, internal: bool, workflow_id: str, payload: Any = None
    ) -> None:
        wf = self._workflow(tx, workflow_id)
        if not wf.is_root:
            raise StructuralIntegrityError(
                f"workflow {workflow_id} is a child workflow (of {wf.parent_workflow_id}); "
                "cancel it with cancel_workflow"
            )
        workflows.cancel(tx.execution, wf, payload, internal=internal)

    def initialize_workflow(
        self, tx: Transaction, internal: bool, target: Any, payload: Any = None
    ) -> str:
        """Create a child workflow of a composite task; returns its id."""
        wf, task, _, child = self._target(tx, target, "workflow")
        assert child is not None
        return workflows.initialize_child(tx.execution, wf, task, child, payload, internal=internal)

    def cancel_workflow(
        self, tx: Transaction, internal: bool, workflow_id: str, payload: Any = None
    ) -> None:
        workflows.cancel(tx.execution, self._workflow(tx, workflow_id), payload, internal=internal)

    def initialize_work_item(
        self, tx: Transaction, internal: bool, target: Any, payload: Any = None
    ) -> str:
        """Create a work item of a task; returns its id."""
        wf, task, _, _ = self._target(tx, target, "work_item")
        return work_items.initialize(tx.execution, wf, task, payload, internal=internal)

    def start_work_item(
        self, tx: Transaction, internal: bool, work_item_id: str, payload: Any = None
    ) -> None:
        work_items.start(
            tx.execution, self._work_item(tx, work_item_id), payload, internal=internal
        )

    def complete_work_item(
        self, tx: Transaction, internal: bool, work_item_id: str, payload: Any = None
    ) -> None:
        item = self._work_item(tx, work_item_id)
        work_items.finish(tx.execution, item, payload, "complete", internal=internal)

    def fail_work_item(
        self, tx: Transaction, internal: bool, work_item_id: str, payload: Any = None
    ) -> None:
        item = self._work_item(tx, work_item_id)
        work_items.finish(tx.execution, item, payload, "fail", internal=internal)

    def cancel_work_item(
        self, tx: Transaction, internal: bool, work_item_id: str, payload: Any = None
    ) -> None:
        work_items.cancel(
            tx.execution, self._work_item(tx, work_item_id), payload, internal=internal
        )

    def reset_work_item(
        self, tx: Transaction, internal: bool, work_item_id: str, payload: Any = None
    ) -> None:
        work_items.reset(
            tx.execution, self._work_item(tx, work_item_id), payload, internal=internal
        )

    # --- resolving ids and targets --------------------------------------------------------

    def _workflow(self, tx: Transaction, workflow_id: str) -> WorkflowRow:
        row = tx.uow.workflow(workflow_id) if isinstance(workflow_id, str) else None
        if row is None or row.path[0] != self.version.workflow_name:
            raise WorkflowNotFoundError(
                f"there is no {self.version.workflow_name!r} workflow {workflow_id!r}"
            )
        return row

    def _work_item(self, tx: Transaction, work_item_id: str) -> WorkItemRow:
        row = tx.uow.work_item(work_item_id) if isinstance(work_item_id, str) else None
        if (
            row is None
            or tx.execution.workflow(row.workflow_id).path[0] != self.version.workflow_name
        ):
            raise WorkItemNotFoundError(
                f"there is no work item {work_item_id!r} in a {self.version.workflow_name!r} "
                "workflow"
            )
        return row

    def _target(
        self, tx: Transaction, given: Any, kind: str
    ) -> tuple[WorkflowRow, TaskRow, TaskDef, WorkflowDef | None]:
        """Check a target (§17.12) and return the workflow, its task and what the path names."""
        target = Target.of(given)
        path = target.path
        wf = self._workflow(tx, target.parent_workflow_id)
        if len(path) < 3 or path[-2] != target.parent_task_name:
            raise ElementNotFoundInPathError(
                f"the target path {list(path)} does not go through task "
                f"{target.parent_task_name!r} (its second-to-last element must name it)"
            )
        if tuple(wf.path) != path[:-2]:
            raise ElementNotFoundInPathError(
                f"workflow {wf.id} is at {list(wf.path)}, but the target path {list(path)} "
                f"expects a workflow at {list(path[:-2])}"
            )
        wdef = tx.execution.definition(wf)
        tdef = wdef.tasks.get(target.parent_task_name)
        if tdef is None:
            raise ElementNotFoundInPathError(
                f"workflow {wdef.name!r} has no task {target.parent_task_name!r}"
            )
        task = tx.uow.tasks(wf.id)[tdef.name]
        leaf = path[-1]
        if kind == "work_item":
            if tdef.work_item is None or tdef.work_item.name != leaf:
                raise ElementNotFoundInPathError(_not_a(tdef, leaf, "work item"))
            return wf, task, tdef, None
        if tdef.work_item is not None and tdef.work_item.name == leaf:
            raise WorkItemCannotHaveChildrenError(
                f"{list(path)} names work item {leaf!r}, not a child workflow"
            )
        child = tdef.children.get(leaf)
        if child is None:
            raise ElementNotFoundInPathError(_not_a(tdef, leaf, "child workflow"))
        return wf, task, tdef, child


def _not_a(tdef: TaskDef, leaf: str, what: str) -> str:
    if tdef.work_item is not None:
        offers = f"its work item is {tdef.work_item.name!r}"
    elif tdef.children:
        offers = "its child workflows are " + ", ".join(map(repr, tdef.children))
    else:
        offers = "it is a dummy task"
    return f"task {tdef.name!r} has no {what} {leaf!r}; {offers}"


class _Queries:
    def __init__(self, version: CompiledVersion) -> None:
        self.version = version

    def get_workflow_state(self, tx: Transaction, workflow_id: str) -> str:
        return reads.workflow_state(tx, workflow_id)

    def get_work_item_state(self, tx: Transaction, work_item_id: str) -> str:
        return reads.work_item_state(tx, work_item_id)

    def get_workflow_task_states(self, tx: Transaction, workflow_id: str) -> dict[str, str]:
        """`{task name: state}` of one instance (conditions are not tasks: none here)."""
        return reads.task_states(tx, workflow_id)

    def get_workflow_snapshot(self, tx: Transaction, workflow_id: str) -> WorkflowSnapshot:
        return reads.snapshot(tx, workflow_id)

    def list_work_items(
        self,
        tx: Transaction,
        workflow_id: str,
        task_name: str | None = None,
        state: str | None = None,
    ) -> list[WorkItem]:
        """Work items of every generation, oldest first."""
        return reads.list_work_items(tx, workflow_id, task_name, state)

    def list_child_workflows(
        self, tx: Transaction, workflow_id: str, task_name: str | None = None
    ) -> list[ChildWorkflow]:
        return reads.list_child_workflows(tx, workflow_id, task_name)

    def list_workflows(self, tx: Transaction, state: str | None = None) -> list[WorkflowRecord]:
        """Root workflows of this version, oldest first."""
        return reads.list_workflows(tx, self.version, state)

    def get_workflow_structure(self, tx: Transaction) -> dict[str, Any]:
        """The static graph of this version's workflow, for UIs."""
        return describe_structure(self.version.root)
