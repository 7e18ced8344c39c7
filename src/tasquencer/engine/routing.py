"""Routes: what a router of an XOR or OR split task returns."""

from __future__ import annotations

from collections.abc import Sequence

from tasquencer.contexts import Route
from tasquencer.engine.definitions import implicit_condition
from tasquencer.errors import TaskInvalidRouteError


class RouteBuilder:
    """`ctx.route` in a router."""

    __slots__ = ("_task",)

    def __init__(self, task: str) -> None:
        self._task = task

    def to_task(self, name: str) -> Route:
        return Route(implicit_condition(self._task, name), f"task {name!r}")

    def to_condition(self, name: str) -> Route:
        return Route(name, f"condition {name!r}")


def routed_conditions(task: str, split: str, result: object) -> list[str]:
    """The condition names a router chose; raises `TaskInvalidRouteError` for a wrong shape."""
    routes: Sequence[object]
    if isinstance(result, Route):
        routes = [result]
    elif isinstance(result, list | tuple):
        routes = result
    else:
        raise TaskInvalidRouteError(
            f"the router of task {task!r} ({split} split) returned {result!r}; it must return "
            "ctx.route.to_task(name) / ctx.route.to_condition(name)"
            + (" or a list of them" if split == "or" else "")
        )
    for route in routes:
        if not isinstance(route, Route):
            raise TaskInvalidRouteError(
                f"the router of task {task!r} returned {route!r} among its routes; build routes "
                "with ctx.route.to_task(name) / ctx.route.to_condition(name)"
            )
    return [route.condition for route in routes if isinstance(route, Route)]
