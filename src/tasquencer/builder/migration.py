"""`tq.migrate(v1, v2)`: how running instances of one version move to the next."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from tasquencer.builder.workflow import WorkflowBuilder
from tasquencer.contexts import (
    MigrationFinalizerContext,
    MigrationInitializerContext,
    TaskMigrator,
)
from tasquencer.errors import describe

# How callbacks are kept once their types have been checked at the builder.
StoredCallback = Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class MigrationBuilder:
    """A migration from the definition `source` to `target`, each step optional.

    - the initializer runs once, before the new instance enables any task;
    - the finalizer runs when the migrated instance completes, fails or is canceled;
    - task migrators, keyed `"<owning workflow>/<task>"`, decide for each task of the new
      version, whenever it is enabled, whether its work is done (`FAST_FORWARD`) or it goes on
      (`CONTINUE`); a task without a migrator continues.
    """

    source: WorkflowBuilder
    target: WorkflowBuilder
    initializer: StoredCallback | None = None
    finalizer: StoredCallback | None = None
    task_migrators: Mapping[str, StoredCallback] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def with_initializer(
        self, initializer: Callable[[MigrationInitializerContext], object]
    ) -> MigrationBuilder:
        return replace(self, initializer=_callable(initializer, "initializer"))

    def with_finalizer(
        self, finalizer: Callable[[MigrationFinalizerContext], object]
    ) -> MigrationBuilder:
        return replace(self, finalizer=_callable(finalizer, "finalizer"))

    def with_task_migrators(self, migrators: Mapping[str, TaskMigrator]) -> MigrationBuilder:
        """Add migrators by `"<owning workflow>/<task>"` (later calls add to earlier ones)."""
        if not isinstance(migrators, Mapping):
            raise TypeError(
                "with_task_migrators expects a mapping {'<workflow>/<task>': migrator}, got "
                f"{describe(migrators)}"
            )
        added = dict(self.task_migrators)
        for key, migrator in migrators.items():
            if not isinstance(key, str) or key.count("/") != 1 or "" in key.split("/"):
                raise ValueError(
                    f"a task migrator's key is '<owning workflow>/<task>', got {describe(key)}"
                )
            added[key] = _callable(migrator, f"task migrator {key!r}")
        return replace(self, task_migrators=MappingProxyType(added))


def migrate(source: WorkflowBuilder, target: WorkflowBuilder) -> MigrationBuilder:
    """A migration of running instances of `source` to `target` (its next version)."""
    for given, role in ((source, "source"), (target, "target")):
        if not isinstance(given, WorkflowBuilder):
            raise TypeError(f"tq.migrate expects workflows, got {describe(given)} as {role}")
    return MigrationBuilder(source, target)


def _callable(fn: object, what: str) -> StoredCallback:
    if not callable(fn):
        raise TypeError(f"the {what} must be a callable `(ctx) -> ...`, got {describe(fn)}")
    return fn
