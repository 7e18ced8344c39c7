"""Completion policies: after a child's state changes, does the task continue, complete or fail?"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tasquencer.engine.contexts import PolicyContext
from tasquencer.errors import InvalidPolicyResultError


class PolicyResult(StrEnum):
    CONTINUE = "continue"
    COMPLETE = "complete"
    FAIL = "fail"


_RESULTS = {r.value: r for r in PolicyResult}


def default_task_policy(ctx: PolicyContext) -> PolicyResult:
    """Complete when every work item is finalized; fail as soon as one fails."""
    return _default(ctx, require_children=False)


def default_composite_policy(ctx: PolicyContext) -> PolicyResult:
    """As the task policy, but a composite task with no child workflow yet never completes."""
    return _default(ctx, require_children=True)


def _default(ctx: PolicyContext, *, require_children: bool) -> PolicyResult:
    state = ctx.transition.next_state
    if state == "failed":
        return PolicyResult.FAIL
    if state not in ("completed", "canceled"):
        return PolicyResult.CONTINUE
    stats = ctx.task.get_stats()
    finalized = stats.completed + stats.failed + stats.canceled == stats.total
    if finalized and (stats.total > 0 or not require_children):
        return PolicyResult.COMPLETE
    return PolicyResult.CONTINUE


def checked_result(task: str, result: Any) -> PolicyResult:
    found = _RESULTS.get(result) if isinstance(result, str) else None
    if found is None:
        raise InvalidPolicyResultError(
            f"the policy of task {task!r} returned {result!r}; it must return "
            "'continue', 'complete' or 'fail'"
        )
    return found
