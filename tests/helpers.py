"""Small builders for test workflows, empty databases for tests that open apps themselves,
waiting for what other threads and processes do, and loading a benchmark script."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.builder import TaskBuilder, WorkItemBuilder


def auto_item(name: str = "item", *, start: bool = True) -> WorkItemBuilder:
    """A work item that starts itself when initialized (the driver completes it)."""

    def on_initialized(ctx: Any) -> None:
        if start:
            ctx.work_item.start()

    return Builder.work_item(name).with_activities(on_initialized=on_initialized)


def auto_task(item: WorkItemBuilder | None = None) -> TaskBuilder:
    """A task that creates one work item when enabled."""

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return Builder.task(item or auto_item()).with_activities(on_enabled=on_enabled)


def one_task_workflow(task: Any, name: str = "wf", task_name: str = "A") -> Any:
    """start -> A (or `task_name`) -> end."""
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task(task_name, task)
        .connect_condition("start", lambda to: to.task(task_name))
        .connect_task(task_name, lambda to: to.condition("end"))
    )


def router_to(*targets: str, split: str = "xor") -> Callable[[Any], Any]:
    """A router that always routes to the given tasks."""

    def route(ctx: Any) -> Any:
        routes = [ctx.route.to_task(t) for t in targets]
        return routes[0] if split == "xor" else routes

    return route


def is_postgres(url: str) -> bool:
    return sa.make_url(url).get_backend_name() == "postgresql"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005) -> Any:
    """Poll `predicate` until it returns something truthy or `timeout` seconds pass; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """`wait_for` that fails the test, naming `what`, when the time runs out."""
    value = wait_for(predicate, timeout, interval)
    assert value, f"timed out after {timeout:.0f}s waiting for {what}"
    return value


def dump(app: tq.App) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every `tasquencer_` table in the database, in a stable order."""
    with app.engine.connect() as connection:
        names = [n for n in sa.inspect(connection).get_table_names() if n.startswith("tasquencer_")]
        assert names, "the engine's tables should exist"
        reflected = sa.MetaData()
        reflected.reflect(connection, only=names)
        dumped = {
            name: sorted(
                (tuple(row) for row in connection.execute(sa.select(reflected.tables[name]))),
                key=repr,
            )
            for name in names
        }
        connection.rollback()
    return dumped


BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """A script of `benchmarks/` imported as a module (its dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module
