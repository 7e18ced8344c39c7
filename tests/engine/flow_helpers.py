"""Shared by the control-flow tests: tasks that record their activities, routers, drivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tasquencer as tq
from tasquencer import Builder


def tracked_task(
    log: list[str],
    *,
    item: str = "item",
    auto_start: bool = True,
    join: str = "and",
    split: str = "and",
) -> Any:
    """A task that records its activities as "<task>.<event>#<generation>" and creates one
    work item when enabled (started at once unless `auto_start` is False)."""

    def record(event: str) -> Callable[[Any], None]:
        def activity(ctx: Any) -> None:
            log.append(f"{ctx.task.name}.{event}#{ctx.task.generation}")

        return activity

    def on_enabled(ctx: Any) -> None:
        record("enabled")(ctx)
        ctx.work_item.initialize()

    def on_initialized(ctx: Any) -> None:
        if auto_start:
            ctx.work_item.start()

    def on_item_canceled(ctx: Any) -> None:
        log.append(f"{ctx.parent.task.name}.item_canceled#{ctx.parent.task.generation}")

    work_item = Builder.work_item(item).with_activities(
        on_initialized=on_initialized, on_canceled=on_item_canceled
    )
    return (
        Builder.task(work_item)
        .with_join_type(join)
        .with_split_type(split)
        .with_activities(
            on_enabled=on_enabled,
            on_started=record("started"),
            on_completed=record("completed"),
            on_disabled=record("disabled"),
            on_canceled=record("canceled"),
            on_failed=record("failed"),
        )
    )


def chooser(choice: dict[str, list[str]], split: str) -> Callable[[Any], Any]:
    """A router returning `choice[task name]` (task names, or "cond:<name>" for a condition)."""

    def route(ctx: Any) -> Any:
        routes = [
            ctx.route.to_condition(t[5:]) if t.startswith("cond:") else ctx.route.to_task(t)
            for t in choice[ctx.task.name]
        ]
        return routes[0] if split == "xor" and len(routes) == 1 else routes

    return route


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def task_states(api: Any, wid: str) -> dict[str, tuple[str, int]]:
    snapshot = api.get_workflow_snapshot(wid)
    return {name: (t.state, t.generation) for name, t in snapshot.tasks.items()}


def current_item(api: Any, wid: str, task: str) -> Any:
    """The open work item of the task's current generation."""
    generation = api.get_workflow_snapshot(wid).tasks[task].generation
    (item,) = [
        w
        for w in api.list_work_items(wid, task_name=task)
        if w.generation == generation and w.state in ("initialized", "started")
    ]
    return item


def start(api: Any, wid: str, task: str) -> None:
    api.internal_start_work_item(current_item(api, wid, task).id)


def finish(api: Any, wid: str, task: str) -> None:
    """Complete the task's open work item (starting it first if needed)."""
    item = current_item(api, wid, task)
    if item.state == "initialized":
        api.internal_start_work_item(item.id)
    api.internal_complete_work_item(item.id)


def enabled_events(log: list[str]) -> list[str]:
    return [e for e in log if ".enabled#" in e]
