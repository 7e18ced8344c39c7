"""The API of one workflow version: public methods, their `internal_` twins, and reads.

Every method runs in its own transaction, or inside the transaction of the mutation, activity
or action callback you are in when given `ctx=ctx`. Every method is also a registered
function of the app, so it can be called with `app.run_mutation` or scheduled:
`ctx.scheduler.run_after(60, api.internal_complete_work_item, work_item_id=wid)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from tasquencer import arguments
from tasquencer.api import reads
from tasquencer.audit import reads as audit_reads
from tasquencer.auth import guard
from tasquencer.contexts import EXTERNAL, INTERNAL, Caller, MutationContext, TransactionContext
from tasquencer.engine import lookup, work_items, workflows
from tasquencer.engine.definitions import CompiledVersion, describe_actions, describe_structure
from tasquencer.engine.execution import Execution
from tasquencer.engine.instances import WorkItemInstance
from tasquencer.records import (
    WORK_ITEM_STATES,
    WORKFLOW_STATES,
    ActionDescription,
    ChildWorkflow,
    HistoryEvent,
    Target,
    TraceSpan,
    WorkflowRecord,
    WorkflowSnapshot,
    WorkflowState,
    WorkflowStructure,
    WorkItem,
    WorkItemState,
)
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.functions import caller_of, transaction_of
from tasquencer.runtime.registry import FunctionDef, FunctionKind
from tasquencer.runtime.transaction import Transaction
from tasquencer.runtime.treelocks import TreeHint

R = TypeVar("R")
TargetArg = Target | Mapping[str, object]


class WorkflowApi:
    """`versions.api("v1")`: drive and read instances of one workflow version.

    The public methods run as external calls: default actions refuse them, custom actions see
    `ctx.is_internal == False`, and actions with an access policy run only when it allows the
    call's user. Each has an `internal_` twin for server code, jobs and actions calling back.
    Reads have no twin.

    `user=` names who is calling: a `tq.User`, or whatever the app's user provider reads one
    from (`tq.App(..., auth=tq.Auth(get_user=fn))`). A call given `ctx=` and no `user=` is made
    by the outer call's user. An external start by a user claims the work item if it is
    offered and unclaimed; an external call on a work item somebody else has claimed is refused.

    The work item commands (start, complete, fail, cancel, reset) return the work items the
    call created, anywhere in the tree, in the order it created them and in their state when
    it ended (an `on_initialized` that starts its item shows `started`): what a client acts on
    next, without a read.
    """

    def __init__(self, runtime: Runtime, version: CompiledVersion) -> None:
        self._runtime = runtime
        self.version = version
        self._register()

    def __repr__(self) -> str:
        return f"<WorkflowApi {self.version.workflow_name} {self.version.version_name}>"

    # --- workflows -------------------------------------------------------------------------

    def initialize_root_workflow(
        self, payload: object = None, *, ctx: MutationContext | None = None, user: object = None
    ) -> str:
        """Start a new instance of this version; returns its id."""
        return self._command(
            "initialize_root_workflow", ctx, user, EXTERNAL, (), self._initialize_root, payload
        )

    def internal_initialize_root_workflow(
        self, payload: object = None, *, ctx: MutationContext | None = None, user: object = None
    ) -> str:
        """`initialize_root_workflow` as an internal call."""
        return self._command(
            "internal_initialize_root_workflow",
            ctx,
            user,
            INTERNAL,
            (),
            self._initialize_root,
            payload,
        )

    def cancel_root_workflow(
        self,
        workflow_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> None:
        """Cancel a root instance (its cancel action validates `payload`)."""
        self._command(
            "cancel_root_workflow",
            ctx,
            user,
            EXTERNAL,
            _workflow_tree(workflow_id),
            self._cancel_root,
            workflow_id,
            payload,
        )

    def internal_cancel_root_workflow(
        self,
        workflow_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> None:
        self._command(
            "internal_cancel_root_workflow",
            ctx,
            user,
            INTERNAL,
            _workflow_tree(workflow_id),
            self._cancel_root,
            workflow_id,
            payload,
        )

    def initialize_workflow(
        self,
        target: TargetArg,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> str:
        """Create a child workflow of a composite task; returns its id.

        `target`: `{"path": [...], "parent_workflow_id": id, "parent_task_name": name}` or a
        `tq.Target`.
        """
        return self._command(
            "initialize_workflow",
            ctx,
            user,
            EXTERNAL,
            _target_tree(target),
            self._initialize_child,
            target,
            payload,
        )

    def internal_initialize_workflow(
        self,
        target: TargetArg,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> str:
        return self._command(
            "internal_initialize_workflow",
            ctx,
            user,
            INTERNAL,
            _target_tree(target),
            self._initialize_child,
            target,
            payload,
        )

    def cancel_workflow(
        self,
        workflow_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> None:
        """Cancel a workflow instance, root or child."""
        self._command(
            "cancel_workflow",
            ctx,
            user,
            EXTERNAL,
            _workflow_tree(workflow_id),
            self._cancel,
            workflow_id,
            payload,
        )

    def internal_cancel_workflow(
        self,
        workflow_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> None:
        self._command(
            "internal_cancel_workflow",
            ctx,
            user,
            INTERNAL,
            _workflow_tree(workflow_id),
            self._cancel,
            workflow_id,
            payload,
        )

    # --- work items ------------------------------------------------------------------------

    def initialize_work_item(
        self,
        target: TargetArg,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> str:
        """Create a work item of a task; returns its id."""
        return self._command(
            "initialize_work_item",
            ctx,
            user,
            EXTERNAL,
            _target_tree(target),
            self._initialize_work_item,
            target,
            payload,
        )

    def internal_initialize_work_item(
        self,
        target: TargetArg,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> str:
        return self._command(
            "internal_initialize_work_item",
            ctx,
            user,
            INTERNAL,
            _target_tree(target),
            self._initialize_work_item,
            target,
            payload,
        )

    def start_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Start an initialized work item (its task and workflow start with it if needed);
        returns the work items the call created."""
        return self._command(
            "start_work_item",
            ctx,
            user,
            EXTERNAL,
            _item_tree(work_item_id),
            self._start,
            work_item_id,
            payload,
        )

    def internal_start_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        return self._command(
            "internal_start_work_item",
            ctx,
            user,
            INTERNAL,
            _item_tree(work_item_id),
            self._start,
            work_item_id,
            payload,
        )

    def complete_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Complete a started work item; its task's policy decides what follows. Returns the
        work items the call created (those of the tasks it enabled, say)."""
        return self._command(
            "complete_work_item",
            ctx,
            user,
            EXTERNAL,
            _item_tree(work_item_id),
            self._complete,
            work_item_id,
            payload,
        )

    def internal_complete_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        return self._command(
            "internal_complete_work_item",
            ctx,
            user,
            INTERNAL,
            _item_tree(work_item_id),
            self._complete,
            work_item_id,
            payload,
        )

    def fail_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Fail a started work item (by default its task and workflow fail with it); returns the
        work items the call created."""
        return self._command(
            "fail_work_item",
            ctx,
            user,
            EXTERNAL,
            _item_tree(work_item_id),
            self._fail,
            work_item_id,
            payload,
        )

    def internal_fail_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        return self._command(
            "internal_fail_work_item",
            ctx,
            user,
            INTERNAL,
            _item_tree(work_item_id),
            self._fail,
            work_item_id,
            payload,
        )

    def cancel_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Cancel an initialized or started work item; returns the work items the call created."""
        return self._command(
            "cancel_work_item",
            ctx,
            user,
            EXTERNAL,
            _item_tree(work_item_id),
            self._cancel_item,
            work_item_id,
            payload,
        )

    def internal_cancel_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        return self._command(
            "internal_cancel_work_item",
            ctx,
            user,
            INTERNAL,
            _item_tree(work_item_id),
            self._cancel_item,
            work_item_id,
            payload,
        )

    def reset_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Put a started work item back to initialized; its task stays started. Returns the
        work items the call created."""
        return self._command(
            "reset_work_item",
            ctx,
            user,
            EXTERNAL,
            _item_tree(work_item_id),
            self._reset,
            work_item_id,
            payload,
        )

    def internal_reset_work_item(
        self,
        work_item_id: str,
        payload: object = None,
        *,
        ctx: MutationContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        return self._command(
            "internal_reset_work_item",
            ctx,
            user,
            INTERNAL,
            _item_tree(work_item_id),
            self._reset,
            work_item_id,
            payload,
        )

    # --- reads -----------------------------------------------------------------------------

    def get_workflow_state(
        self, workflow_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> WorkflowState:
        return self._read(
            "get_workflow_state",
            ctx,
            user,
            lambda tx: reads.workflow_state(tx, self._name, workflow_id),
        )

    def get_work_item_state(
        self, work_item_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> WorkItemState:
        return self._read(
            "get_work_item_state",
            ctx,
            user,
            lambda tx: reads.work_item_state(tx, self._name, work_item_id),
        )

    def get_work_item(
        self, work_item_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> WorkItem:
        """One work item's record (as `list_work_items` gives it)."""
        return self._read(
            "get_work_item", ctx, user, lambda tx: reads.work_item(tx, self._name, work_item_id)
        )

    def get_workflow_task_states(
        self, workflow_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> dict[str, str]:
        """`{task name: state}` of one instance (conditions are not tasks: none here)."""
        return self._read(
            "get_workflow_task_states",
            ctx,
            user,
            lambda tx: reads.task_states(tx, self._name, workflow_id),
        )

    def get_workflow_snapshot(
        self, workflow_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> WorkflowSnapshot:
        """State, tasks (state, generation), markings, work items and child workflows."""
        return self._read(
            "get_workflow_snapshot",
            ctx,
            user,
            lambda tx: reads.snapshot(tx, self._name, workflow_id),
        )

    def list_work_items(
        self,
        workflow_id: str,
        task_name: str | None = None,
        state: str | None = None,
        *,
        ctx: TransactionContext | None = None,
        user: object = None,
    ) -> list[WorkItem]:
        """Work items of every generation, oldest first."""
        arguments.optional_text(task_name, "task_name")
        if state is not None:
            arguments.one_of(state, "state", WORK_ITEM_STATES)
        return self._read(
            "list_work_items",
            ctx,
            user,
            lambda tx: reads.list_work_items(tx, self._name, workflow_id, task_name, state),
        )

    def list_child_workflows(
        self,
        workflow_id: str,
        task_name: str | None = None,
        *,
        ctx: TransactionContext | None = None,
        user: object = None,
    ) -> list[ChildWorkflow]:
        """Child workflows of every generation, oldest first."""
        arguments.optional_text(task_name, "task_name")
        return self._read(
            "list_child_workflows",
            ctx,
            user,
            lambda tx: reads.list_child_workflows(tx, self._name, workflow_id, task_name),
        )

    def list_workflows(
        self,
        state: str | None = None,
        *,
        ctx: TransactionContext | None = None,
        user: object = None,
    ) -> list[WorkflowRecord]:
        """Root workflows of this version, oldest first."""
        if state is not None:
            arguments.one_of(state, "state", WORKFLOW_STATES)
        return self._read(
            "list_workflows", ctx, user, lambda tx: reads.list_workflows(tx, self.version, state)
        )

    def get_workflow_history(
        self, workflow_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> list[HistoryEvent]:
        """The recorded changes of a workflow, its tasks and work items, oldest first."""
        return self._read(
            "get_workflow_history",
            ctx,
            user,
            lambda tx: audit_reads.history(tx, reads.workflow_row(tx, self._name, workflow_id)),
        )

    def get_trace_spans(
        self, workflow_id: str, *, ctx: TransactionContext | None = None, user: object = None
    ) -> list[TraceSpan]:
        """The spans of the workflow's tree (one trace per root), as a tree of calls."""
        return self._read(
            "get_trace_spans",
            ctx,
            user,
            lambda tx: audit_reads.trace_spans(tx, reads.workflow_row(tx, self._name, workflow_id)),
        )

    def get_workflow_state_at(
        self,
        workflow_id: str,
        when: datetime,
        *,
        ctx: TransactionContext | None = None,
        user: object = None,
    ) -> WorkflowSnapshot:
        """`get_workflow_snapshot` as it was at `when` (a naive time is taken as UTC)."""
        at = arguments.moment(when, "when", naive_is_utc=True)
        return self._read(
            "get_workflow_state_at",
            ctx,
            user,
            lambda tx: audit_reads.state_at(
                tx, reads.workflow_row(tx, self._name, workflow_id), at
            ),
        )

    def get_workflow_structure(self, *, ctx: TransactionContext | None = None) -> WorkflowStructure:
        """The static graph of this version's workflow, for UIs."""
        return describe_structure(self.version.root)

    def describe_actions(self) -> list[ActionDescription]:
        """Every action of this version's workflows and work items, root and nested."""
        return describe_actions(self.version)

    # --- the commands ----------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.version.workflow_name

    def _initialize_root(self, ex: Execution, caller: Caller, payload: object) -> str:
        guard.workflow_action(ex, self.version.root, "initialize", None, caller, payload)
        return workflows.initialize_root(ex, self.version, payload, caller)

    def _cancel_root(
        self, ex: Execution, caller: Caller, workflow_id: str, payload: object
    ) -> None:
        workflow = lookup.root_workflow(ex, self._name, workflow_id)
        guard.workflow_action(ex, workflow.definition, "cancel", workflow.info(), caller, payload)
        workflows.cancel(workflow, payload, caller)

    def _initialize_child(
        self, ex: Execution, caller: Caller, target: TargetArg, payload: object
    ) -> str:
        task, child = lookup.child_workflow_target(ex, self._name, target)
        guard.workflow_action(ex, child, "initialize", task.workflow.info(), caller, payload)
        return workflows.initialize_child(task, child, payload, caller)

    def _cancel(self, ex: Execution, caller: Caller, workflow_id: str, payload: object) -> None:
        workflow = lookup.workflow(ex, self._name, workflow_id)
        guard.workflow_action(ex, workflow.definition, "cancel", workflow.info(), caller, payload)
        workflows.cancel(workflow, payload, caller)

    def _initialize_work_item(
        self, ex: Execution, caller: Caller, target: TargetArg, payload: object
    ) -> str:
        task = lookup.work_item_target(ex, self._name, target)
        guard.new_work_item(task, caller, payload)
        return work_items.initialize(task, payload, caller)

    def _start(
        self, ex: Execution, caller: Caller, work_item_id: str, payload: object
    ) -> list[WorkItem]:
        item = self._work_item(ex, caller, work_item_id, "start", payload)
        return _creating(ex, lambda: work_items.start(item, payload, caller))

    def _complete(
        self, ex: Execution, caller: Caller, work_item_id: str, payload: object
    ) -> list[WorkItem]:
        item = self._work_item(ex, caller, work_item_id, "complete", payload)
        return _creating(ex, lambda: work_items.finish(item, payload, "complete", caller))

    def _fail(
        self, ex: Execution, caller: Caller, work_item_id: str, payload: object
    ) -> list[WorkItem]:
        item = self._work_item(ex, caller, work_item_id, "fail", payload)
        return _creating(ex, lambda: work_items.finish(item, payload, "fail", caller))

    def _cancel_item(
        self, ex: Execution, caller: Caller, work_item_id: str, payload: object
    ) -> list[WorkItem]:
        item = self._work_item(ex, caller, work_item_id, "cancel", payload)
        return _creating(ex, lambda: work_items.cancel(item, payload, caller))

    def _reset(
        self, ex: Execution, caller: Caller, work_item_id: str, payload: object
    ) -> list[WorkItem]:
        item = self._work_item(ex, caller, work_item_id, "reset", payload)
        return _creating(ex, lambda: work_items.reset(item, payload, caller))

    def _work_item(
        self, ex: Execution, caller: Caller, work_item_id: str, action: str, payload: object
    ) -> WorkItemInstance:
        """The work item, once the external call has passed its policy and claim (a start by
        a user claims it)."""
        item = lookup.work_item(ex, self._name, work_item_id)
        guard.work_item_action(item, action, caller, payload, claim=action == "start")
        return item

    # --- running them ----------------------------------------------------------------------

    def _command(
        self,
        name: str,
        ctx: MutationContext | None,
        user: object,
        caller: Caller,
        trees: list[TreeHint] | tuple[()],
        command: Callable[..., R],
        *args: object,
    ) -> R:
        """Run a command in a transaction of its own, or all or nothing inside `ctx`'s, as
        `caller` made by `user` (or, nested, by the outer call's user)."""
        if ctx is None:
            made_by = self._runtime.caller(caller.is_internal, user)
            return self._runtime.runner.run(
                lambda tx: _recorded(name, command, tx.execution, made_by, args), trees=trees
            )
        tx = transaction_of(ctx, writable=True, call=f"api.{name}")
        nested = self._runtime.nested_caller(_on_behalf_of(ctx, caller), user)
        return tx.run_nested(lambda: _recorded(name, command, tx.execution, nested, args))

    def _read(
        self,
        name: str,
        ctx: TransactionContext | None,
        user: object,
        query: Callable[[Transaction], R],
    ) -> R:
        self._runtime.users(user)  # reads run no policy, but a bad user= is an error
        if ctx is None:
            return self._runtime.runner.run(query, read_only=True)
        tx = transaction_of(ctx, writable=False, call=f"api.{name}")
        tx.uow.flush()
        return query(tx)

    # --- registration ----------------------------------------------------------------------

    def _register(self) -> None:
        """Register every method as a function of the app, under a name stable across
        processes, so it can be scheduled and run by `app.run_mutation` / `app.run_query`."""
        prefix = f"tasquencer.api:{self.version.workflow_name}:{self.version.version_name}"
        registry = self._runtime.core.registry
        for name, kind, trees in _METHODS:
            method = getattr(self, name)
            definition = FunctionDef(
                f"{prefix}:{name}",
                kind,
                _registered(method),
                internal=name.startswith("internal_"),
                trees=trees,
            )
            registry.add_method(self, name, definition)


def _creating(ex: Execution, change: Callable[[], object]) -> list[WorkItem]:
    """Make `change`; the work items it created, in their state when it is done."""
    since = len(ex.uow.created_work_items)
    change()
    return [
        WorkItem(
            row.id,
            row.name,
            cast(WorkItemState, row.state),
            row.task_name,
            row.task_generation,
            row.workflow_id,
        )
        for row in ex.uow.created_work_items[since:]
    ]


def _recorded(
    name: str,
    command: Callable[..., R],
    ex: Execution,
    caller: Caller,
    args: tuple[object, ...],
) -> R:
    """Run a command as one call of the audit trail: what it changes is nested under it."""
    recorder = ex.recorder
    resource = args[0] if len(args) > 1 else None  # the id or target; the payload comes last
    recorder.call_started(name, caller, resource, args[-1] if args else None)
    result = command(ex, caller, *args)
    recorder.call_ended()
    return result


def _registered(method: Callable[..., object]) -> Callable[..., object]:
    """`method` as a registered function `(ctx, **kwargs)`: it runs in the ctx's transaction."""

    def run(ctx: TransactionContext, **kwargs: Any) -> object:
        return method(**kwargs, ctx=ctx)

    return run


def _on_behalf_of(ctx: TransactionContext, caller: Caller) -> Caller:
    """The nested call's caller: internal or external as the method says, the outer call's
    user and correlation id."""
    outer = caller_of(ctx)
    if outer.user is None and outer.correlation_id is None:
        return caller
    return Caller(caller.is_internal, outer.user, outer.correlation_id)


def _item_tree(work_item_id: object) -> list[TreeHint]:
    if isinstance(work_item_id, str) and arguments.could_be_an_id(work_item_id):
        return [("work_item", work_item_id)]
    return []


def _workflow_tree(workflow_id: object) -> list[TreeHint]:
    if isinstance(workflow_id, str) and arguments.could_be_an_id(workflow_id):
        return [("workflow", workflow_id)]
    return []


def _target_tree(target: object) -> list[TreeHint]:
    if isinstance(target, Target):
        return _workflow_tree(target.parent_workflow_id)
    if isinstance(target, Mapping):
        return _workflow_tree(target.get("parent_workflow_id"))
    return []


def _trees_of(
    hint: Callable[[object], list[TreeHint]], key: str
) -> Callable[[dict[str, Any]], list[TreeHint]]:
    return lambda kwargs: hint(kwargs.get(key))


_BY_ITEM = _trees_of(_item_tree, "work_item_id")
_BY_WORKFLOW = _trees_of(_workflow_tree, "workflow_id")
_BY_TARGET = _trees_of(_target_tree, "target")
_TreesOf = Callable[[dict[str, Any]], list[TreeHint]] | None
_COMMAND_TREES: dict[str, _TreesOf] = {
    "initialize_root_workflow": None,
    "cancel_root_workflow": _BY_WORKFLOW,
    "initialize_workflow": _BY_TARGET,
    "cancel_workflow": _BY_WORKFLOW,
    "initialize_work_item": _BY_TARGET,
    "start_work_item": _BY_ITEM,
    "complete_work_item": _BY_ITEM,
    "fail_work_item": _BY_ITEM,
    "cancel_work_item": _BY_ITEM,
    "reset_work_item": _BY_ITEM,
}
_QUERIES = (
    "get_workflow_state",
    "get_work_item_state",
    "get_work_item",
    "get_workflow_task_states",
    "get_workflow_snapshot",
    "list_work_items",
    "list_child_workflows",
    "list_workflows",
    "get_workflow_structure",
)
# (method, kind, how to find the workflow tree a call works on; see runtime.runner)
_METHODS: tuple[tuple[str, FunctionKind, _TreesOf], ...] = (
    *(
        (f"{prefix}{name}", "mutation", trees)
        for name, trees in _COMMAND_TREES.items()
        for prefix in ("", "internal_")
    ),
    *((name, "query", None) for name in _QUERIES),
)
