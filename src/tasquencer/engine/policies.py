"""Completion policies: after a child's state changes, does the task continue, complete or fail?"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple

from tasquencer.contexts import PolicyContext, PolicyResult, TaskStats
from tasquencer.errors import InvalidPolicyResultError

_RESULTS = {r.value: r for r in PolicyResult}


def default_task_policy(ctx: PolicyContext) -> PolicyResult:
    """Complete when every work item is finalized; fail as soon as one fails."""
    return decide_by_default(ctx.transition.next_state, ctx.task.get_stats, composite=False)


def default_composite_policy(ctx: PolicyContext) -> PolicyResult:
    """As the task policy, but a composite task with no child workflow yet never completes."""
    return decide_by_default(ctx.transition.next_state, ctx.task.get_stats, composite=True)


def decide_by_default(
    next_state: str, stats: Callable[[], TaskStats], *, composite: bool
) -> PolicyResult:
    """The default policies' decision, given the child's new state and the generation's counts."""
    return decide_on_counts(next_state, lambda: astuple(stats()), composite=composite)


def decide_on_counts(
    next_state: str, counts: Callable[[], Sequence[int]], *, composite: bool
) -> PolicyResult:
    """`decide_by_default` on the counts in `TaskStats` order (total, initialized, started,
    completed, failed, canceled): what the engine keeps, with no record built."""
    if next_state == "failed":
        return PolicyResult.FAIL
    if next_state not in ("completed", "canceled"):
        return PolicyResult.CONTINUE
    total, _, _, completed, failed, canceled = counts()
    if completed + failed + canceled == total and (total > 0 or not composite):
        return PolicyResult.COMPLETE
    return PolicyResult.CONTINUE


def checked_result(task: str, result: object) -> PolicyResult:
    found = _RESULTS.get(result) if isinstance(result, str) else None
    if found is None:
        raise InvalidPolicyResultError(
            f"the policy of task {task!r} returned {result!r}; it must return "
            "'continue', 'complete' or 'fail'"
        )
    return found
