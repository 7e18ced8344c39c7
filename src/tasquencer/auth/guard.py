"""What an external call passes before the engine runs its action: the action's access policy,
the claim of the work item (somebody else's refuses the call), and start-and-claim.

Internal calls pass untouched. The API facade calls these after finding the element and
before the engine changes anything, in the call's transaction.
"""

from __future__ import annotations

from tasquencer.auth.authorization import AuthorizationCtx, CallAccess, WorkItemRef, authorize
from tasquencer.auth.claims import claim_of, refuse_others, take
from tasquencer.contexts import Caller, WorkflowInfo
from tasquencer.engine.definitions import WorkflowDef
from tasquencer.engine.execution import Execution
from tasquencer.engine.instances import TaskInstance, WorkItemInstance


def work_item_action(
    item: WorkItemInstance, action: str, caller: Caller, payload: object, *, claim: bool
) -> None:
    """An external start, complete, fail, cancel or reset of a work item; `claim`: a start by
    a user claims an unclaimed offered work item in the same transaction."""
    if caller.is_internal:
        return
    ex = item.ex
    access = CallAccess(ex, caller)
    current = claim_of(ex.uow.db, item.id)
    definition = item.definition.actions[action]
    if definition.policy is not None:
        ctx = AuthorizationCtx(
            access,
            action,
            definition.parse(payload),
            WorkItemRef(item.id, item.row.name),
            item.task.workflow.info(),
            current.claimed_by if current else None,
        )
        authorize(
            definition.policy,
            ctx,
            lambda: f"the {action} action of work item {item.row.name!r} ({item.id})",
        )
    refuse_others(current, caller.user, action)
    if claim and caller.user is not None and current is not None and current.claimed_by is None:
        take(ex.uow.db, ex.now(), current, caller.user, access.get())


def new_work_item(task: TaskInstance, caller: Caller, payload: object) -> None:
    """An external initialize of a work item in `task`."""
    widef = task.definition.work_item
    if caller.is_internal or widef is None:
        return
    definition = widef.actions["initialize"]
    if definition.policy is None:
        return
    ctx = AuthorizationCtx(
        CallAccess(task.ex, caller),
        "initialize",
        definition.parse(payload),
        None,
        task.workflow.info(),
        None,
    )
    authorize(definition.policy, ctx, lambda: f"the initialize action of work item {widef.name!r}")


def workflow_action(
    ex: Execution,
    definition: WorkflowDef,
    action: str,
    workflow: WorkflowInfo | None,
    caller: Caller,
    payload: object,
) -> None:
    """An external initialize (`workflow`: the parent, None for a root) or cancel of a
    workflow."""
    if caller.is_internal:
        return
    compiled = definition.initialize_action if action == "initialize" else definition.cancel_action
    if compiled.policy is None:
        return
    ctx = AuthorizationCtx(
        CallAccess(ex, caller), action, compiled.parse(payload), None, workflow, None
    )
    authorize(compiled.policy, ctx, lambda: f"the {action} action of workflow {definition.name!r}")
