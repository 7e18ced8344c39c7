"""The engine's contexts implement the public protocols (mypy checks each assignment).

Checked by tests/test_typing.py; never run.
"""

from __future__ import annotations

import tasquencer as tq
from tasquencer.auth.authorization import AuthorizationCtx
from tasquencer.auth.policies import ScopePolicy
from tasquencer.engine import contexts as engine
from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx
from tasquencer.runtime.functions import MutationCtx, QueryCtx


def work_item_action(ctx: engine.WorkItemActionCtx) -> tq.WorkItemActionContext:
    return ctx


def work_item_activity(ctx: engine.WorkItemActivityCtx) -> tq.WorkItemActivityContext:
    return ctx


def task_activity(ctx: engine.TaskActivityCtx) -> tq.WorkItemStateChangedContext:
    return ctx


def composite_activity(ctx: engine.CompositeActivityCtx) -> tq.ChildWorkflowStateChangedContext:
    return ctx


def dynamic_activity(
    ctx: engine.DynamicCompositeActivityCtx,
) -> tq.DynamicChildWorkflowStateChangedContext:
    return ctx


def dummy_activity(ctx: engine.DummyActivityCtx) -> tq.DummyTaskActivityContext:
    return ctx


def workflow_activity(ctx: engine.WorkflowActivityCtx) -> tq.WorkflowActivityContext:
    return ctx


def workflow_initialize(ctx: engine.WorkflowInitializeCtx) -> tq.WorkflowInitializeContext:
    return ctx


def workflow_cancel(ctx: engine.WorkflowCancelCtx) -> tq.WorkflowCancelContext:
    return ctx


def router(ctx: engine.RouterCtx) -> tq.RouterContext:
    return ctx


def policy(ctx: engine.PolicyCtx) -> tq.PolicyContext:
    return ctx


def mutation(ctx: MutationCtx) -> tq.MutationContext:
    return ctx


def query(ctx: QueryCtx) -> tq.QueryContext:
    return ctx


def action(ctx: ActionCtx) -> tq.ActionContext:
    return ctx


def async_action(ctx: AsyncActionCtx) -> tq.AsyncActionContext:
    return ctx


def authorization(ctx: AuthorizationCtx) -> tq.AuthorizationContext:
    return ctx


def scope_policy(policy: ScopePolicy) -> tq.AccessPolicy:
    return policy
