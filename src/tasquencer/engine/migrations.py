"""Migration of a running instance to the next version: the old instance is canceled as
migrated, a new one is replayed in fast-forward mode.

The replay enables the new instance's tasks by the usual rules. Each task of a migrated
instance consults its migrator whenever it is enabled — during the replay and later, for the
life of the instance: `FAST_FORWARD` completes it silently (its router, region and tokens as
usual, no activities of its own, no work items, no policy), `CONTINUE` (or no migrator) lets it
go on, with what the migrator created. Every change goes through `engine.transitions`.
"""

from __future__ import annotations

from tasquencer.contexts import (
    Caller,
    ExecutionMode,
    MigrationMode,
    MigrationResult,
    WorkflowInfo,
)
from tasquencer.engine import auto_triggers, tasks, workflows
from tasquencer.engine.contexts import (
    MigrationFinalizerCtx,
    MigrationInitializerCtx,
    ScheduleScope,
)
from tasquencer.engine.definitions import CompiledVersion
from tasquencer.engine.execution import Execution
from tasquencer.engine.instances import TaskInstance, WorkflowInstance
from tasquencer.engine.transitions import FinalState, create_workflow
from tasquencer.errors import (
    ConstraintViolationError,
    InvalidMigrationModeError,
    StructuralIntegrityError,
    WorkflowDeprecatedError,
    WorkflowInvalidStateError,
    WorkflowMigrationNotFoundError,
)

FAST_FORWARD: ExecutionMode = "fastForward"
_DECISIONS = {m.value: m for m in MigrationMode}


def migrate(
    ex: Execution, old: WorkflowInstance, target: CompiledVersion, caller: Caller
) -> WorkflowInstance:
    """Replace the root instance `old` by a new instance of `target` (the next version)."""
    _require_migratable(old, target)
    ex.execution_mode = FAST_FORWARD
    workflows.cancel(old, None, caller, for_migration=True)
    new = create_workflow(ex, target.root, None, None)
    ex.uow.record_migration(old.row, new.row, ex.now())
    ex.recorder.migrated(old, new)
    migration = target.migration
    assert migration is not None
    if migration.initializer is not None:
        migration.initializer(
            MigrationInitializerCtx(
                ex,
                caller,
                ScheduleScope(workflows.job_tie(new)),
                new.info(),
                old.info(),
            )
        )
    tasks.sweep(new, caller)
    return new


def consult_migrator(task: TaskInstance, caller: Caller) -> bool:
    """Ask the migrator of a just enabled task of a migrated instance; returns whether the task
    was fast-forwarded. A continuing migrator's work items run their auto-triggers at once."""
    ex = task.ex
    root = ex.workflow(task.workflow.row.root_workflow_id)
    version = ex.versions(root.row.path[0], root.row.version_name)
    migrator = version.task_migrator(task.workflow.name, task.name)
    if migrator is None:
        return False
    internal = caller.as_internal()
    queue = auto_triggers.TriggerQueue()
    created: list[str] = []
    ctx = tasks.migrator_context(task, internal, queue, created, _migrated_from(root))
    decision = _checked(task, migrator(ctx))
    if decision is MigrationMode.FAST_FORWARD:
        if created:
            kind = "WORKITEM" if task.definition.kind == "task" else "WORKFLOW"
            raise ConstraintViolationError(
                f"FAST_FORWARD_AND_CHILD_{kind}_INITIALIZATION: the migrator of task "
                f"{task.name!r} created children and returned FAST_FORWARD; a task whose work "
                "is done needs no new children: return CONTINUE, or create none"
            )
        tasks.fast_forward(task, caller)
        return True
    auto_triggers.drain(ex, queue)
    return False


def finalize(workflow: WorkflowInstance, state: FinalState, caller: Caller) -> None:
    """Run the migration's finalizer once a migrated root instance ends."""
    ex = workflow.ex
    version = ex.versions(workflow.row.path[0], workflow.row.version_name)
    migration = version.migration
    if migration is None or migration.finalizer is None:
        return
    migration.finalizer(
        MigrationFinalizerCtx(
            ex,
            caller.as_internal(),
            workflow.info(),
            _migrated_from(workflow),
            MigrationResult(state),
        )
    )


def _require_migratable(old: WorkflowInstance, target: CompiledVersion) -> None:
    if not old.row.is_root:
        raise StructuralIntegrityError(
            f"workflow {old.id} is a child workflow (of {old.row.parent_workflow_id}): "
            "migrate its root instance, which takes its children along"
        )
    if old.row.state not in ("initialized", "started"):
        raise WorkflowInvalidStateError(
            old.id, old.row.state, ("initialized", "started"), "only a running instance migrates"
        )
    if target.migration is None or target.migration.from_version != old.row.version_name:
        raise WorkflowMigrationNotFoundError(
            f"no migration is declared from version {old.row.version_name!r} to "
            f"{target.version_name!r} of workflow {target.workflow_name!r}; declare it with "
            f".with_migration('{old.row.version_name}->{target.version_name}', tq.migrate(...))"
        )
    if target.deprecated:
        raise WorkflowDeprecatedError(
            f"version {target.version_name!r} of workflow {target.workflow_name!r} is "
            "deprecated: instances cannot be migrated to it"
        )


def _migrated_from(root: WorkflowInstance) -> WorkflowInfo:
    found = root.ex.uow.migrated_from(root.id)
    if found is None:
        raise StructuralIntegrityError(
            f"workflow {root.id} runs in fast-forward mode but no migration created it"
        )
    return WorkflowInfo(found[0], found[1])


def _checked(task: TaskInstance, decision: object) -> MigrationMode:
    found = _DECISIONS.get(decision) if isinstance(decision, str) else None
    if found is None:
        raise InvalidMigrationModeError(
            f"the migrator of task {task.name!r} returned {decision!r}; it must return "
            "tq.MigrationMode.FAST_FORWARD or tq.MigrationMode.CONTINUE"
        )
    return found
