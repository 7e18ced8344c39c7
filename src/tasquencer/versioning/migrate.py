"""Moving running instances to a later version: one instance (`App.migrate`), or all instances
of a version (`App.migrate_all`, `tasquencer migrate`), each in transactions of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import sqlalchemy as sa

from tasquencer import arguments
from tasquencer.api import reads
from tasquencer.contexts import INTERNAL
from tasquencer.engine import lookup, migrations
from tasquencer.errors import (
    StructuralIntegrityError,
    UnknownVersionError,
    WorkflowNotFoundError,
    describe,
)
from tasquencer.records import MigrationOutcome
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.transaction import Transaction
from tasquencer.store.tables import workflows
from tasquencer.versioning.versions import WorkflowVersions

Progress = Callable[[MigrationOutcome], object]


def migrate(
    runtime: Runtime,
    versions: WorkflowVersions,
    workflow_id: str,
    to_version: str,
    from_version: str | None = None,
) -> str:
    """Migrate one root instance, version by version up to `to_version`, each step in its own
    transaction; returns the id of the final instance (`from_version`: its version, if known)."""
    current = workflow_id
    if from_version is None:
        steps = _steps(runtime, versions, workflow_id, to_version)
    else:
        steps = _version_order(versions, from_version, to_version)
    for step in steps:
        current = runtime.runner.run(
            partial(_step, versions=versions, workflow_id=current, target=step),
            trees=[("workflow", current)],
        )
    return current


def migrate_all(
    runtime: Runtime,
    versions: WorkflowVersions,
    from_version: str,
    to_version: str,
    *,
    batch_size: int = 100,
    dry_run: bool = False,
    on_progress: Progress | None = None,
) -> list[MigrationOutcome]:
    """Migrate every running root instance of `from_version`, one at a time: an instance that
    fails is reported in its outcome and left as it was, the others go on. With `dry_run`,
    each migration runs and is rolled back: the outcome shows what the instance would become."""
    arguments.integer(batch_size, "batch_size", minimum=1, maximum=10_000)
    _version_order(versions, from_version, to_version)
    outcomes = []
    for workflow_id in _running_instances(runtime, versions.name, from_version, batch_size):
        outcome = _migrate_one(runtime, versions, workflow_id, to_version, dry_run)
        outcomes.append(outcome)
        if on_progress is not None:
            on_progress(outcome)
    return outcomes


def count_running(runtime: Runtime, name: str, version: str) -> int:
    """How many root instances of a version are still running (to size a progress bar)."""
    query = sa.select(sa.func.count()).select_from(workflows).where(*_running(name, version))
    with runtime.transaction(read_only=True) as tx:
        return int(tx.connection.execute(query).scalar_one())


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what the migration produced."""

    def __init__(self, outcome: MigrationOutcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome


def _migrate_one(
    runtime: Runtime, versions: WorkflowVersions, workflow_id: str, to_version: str, dry_run: bool
) -> MigrationOutcome:
    try:
        if not dry_run:
            new_id = migrate(runtime, versions, workflow_id, to_version)
            return MigrationOutcome(workflow_id, new_id, None, {})
        with runtime.transaction() as tx:
            current = workflow_id
            for step in _steps(runtime, versions, workflow_id, to_version, tx):
                current = _step(tx, versions=versions, workflow_id=current, target=step)
            tx.flush()
            snapshot = reads.snapshot(tx, versions.name, current)
            states: dict[str, str] = {name: t.state for name, t in snapshot.tasks.items()}
            raise _DryRun(MigrationOutcome(workflow_id, current, None, states))
    except _DryRun as done:
        return done.outcome
    except Exception as error:  # reported in the outcome: the other instances go on
        return MigrationOutcome(workflow_id, None, f"{type(error).__name__}: {error}", {})


def _step(tx: Transaction, *, versions: WorkflowVersions, workflow_id: str, target: str) -> str:
    old = lookup.workflow(tx.execution, versions.name, workflow_id)
    return migrations.migrate(tx.execution, old, versions.version(target), INTERNAL).id


def _steps(
    runtime: Runtime,
    versions: WorkflowVersions,
    workflow_id: str,
    to_version: str,
    tx: Transaction | None = None,
) -> list[str]:
    """The versions an instance goes through to reach `to_version`, in order."""
    current = _version_of(runtime, versions, workflow_id, tx)
    return _version_order(versions, current, to_version)


def _version_order(versions: WorkflowVersions, from_version: str, to_version: str) -> list[str]:
    order = versions.version_names
    for version in (from_version, to_version):
        if version not in order:
            raise UnknownVersionError(
                f"workflow {versions.name!r} has no version {describe(version)}; it has "
                + ", ".join(map(repr, order))
            )
    start, end = order.index(from_version), order.index(to_version)
    if end <= start:
        raise UnknownVersionError(
            f"{to_version!r} is not a later version than {from_version!r} of workflow "
            f"{versions.name!r} (versions, oldest first: {', '.join(order)})"
        )
    return order[start + 1 : end + 1]


def _version_of(
    runtime: Runtime, versions: WorkflowVersions, workflow_id: str, tx: Transaction | None
) -> str:
    def read(tx: Transaction) -> str:
        found = lookup.workflow(tx.execution, versions.name, workflow_id)
        if not found.row.is_root:
            raise StructuralIntegrityError(
                f"workflow {found.id} is a child workflow (of {found.row.parent_workflow_id}): "
                "migrate its root instance, which takes its children along"
            )
        return found.row.version_name

    if tx is not None:
        return read(tx)
    return runtime.runner.run(read, read_only=True)


def _running(name: str, version: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        workflows.c.name == name,
        workflows.c.version_name == version,
        workflows.c.parent_workflow_id.is_(None),
        workflows.c.state.in_(("initialized", "started")),
    )


def _running_instances(runtime: Runtime, name: str, version: str, batch_size: int) -> Iterator[str]:
    """Ids of the running root instances of a version, oldest first, a batch at a time."""
    after = ""
    while True:
        query = (
            sa.select(workflows.c.id)
            .where(*_running(name, version), workflows.c.id > after)
            .order_by(workflows.c.id)
            .limit(batch_size)
        )
        with runtime.transaction(read_only=True) as tx:
            batch = list(tx.connection.execute(query).scalars())
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1]


def root_version_of(runtime: Runtime, workflow_id: str) -> tuple[str, str]:
    """The workflow and version of a root instance, whatever they are."""
    arguments.string(workflow_id, "workflow_id")
    with runtime.transaction(read_only=True) as tx:
        row = tx.uow.workflow(workflow_id) if arguments.could_be_an_id(workflow_id) else None
    if row is None:
        raise WorkflowNotFoundError(f"there is no workflow {describe(workflow_id)}")
    if not row.is_root:
        raise StructuralIntegrityError(
            f"workflow {row.id} is a child workflow (of {row.parent_workflow_id}): "
            "migrate its root instance, which takes its children along"
        )
    return row.path[0], row.version_name
