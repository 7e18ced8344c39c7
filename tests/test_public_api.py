"""The public surface of `tasquencer`, pinned: adding or removing a name is a decision."""

from __future__ import annotations

import dataclasses
import typing

import tasquencer as tq

EXPORTED = [
    "ActionContext",
    "ActionDescription",
    "App",
    "AsyncActionContext",
    "Builder",
    "Caller",
    "ChildWorkflow",
    "ChildWorkflowStateChangedContext",
    "CompositePolicyContext",
    "CompositeTaskActivityContext",
    "CompositeTaskMigratorContext",
    "CompositeTaskTeardownContext",
    "ConditionNotFoundError",
    "ConfigurationError",
    "ConstraintViolationError",
    "DummyTaskActivityContext",
    "DuplicateElementError",
    "DuplicateVersionError",
    "DynamicChildWorkflowStateChangedContext",
    "DynamicCompositePolicyContext",
    "DynamicCompositeTaskActivityContext",
    "DynamicCompositeTaskMigratorContext",
    "DynamicCompositeTaskTeardownContext",
    "ElementContext",
    "ElementNotFoundInPathError",
    "EntityNotFoundError",
    "ExecutionMode",
    "FakeClock",
    "FunctionNotRegisteredError",
    "InWorkflowContext",
    "InvalidFlowError",
    "InvalidMigrationModeError",
    "InvalidPolicyResultError",
    "InvalidStateTransitionError",
    "JobNotFoundError",
    "JobRecord",
    "LifecycleContext",
    "MigrationBuilder",
    "MigrationDecision",
    "MigrationFinalizerContext",
    "MigrationInitializerContext",
    "MigrationMode",
    "MigrationOutcome",
    "MigrationResult",
    "MutationContext",
    "NestedCallError",
    "NotInternalMutationError",
    "ParentTask",
    "ParentWorkflow",
    "PayloadValidationError",
    "PolicyContext",
    "PolicyDecision",
    "PolicyResult",
    "QueryContext",
    "RegisterScheduledNotAllowedError",
    "Retry",
    "Route",
    "RouterContext",
    "SerializationError",
    "StructuralIntegrityError",
    "SystemClock",
    "Target",
    "TaskActivityContext",
    "TaskInfo",
    "TaskInvalidJoinTypeError",
    "TaskInvalidRouteError",
    "TaskInvalidStateError",
    "TaskMigrator",
    "TaskMigratorContext",
    "TaskMissingRouterError",
    "TaskNotFoundError",
    "TaskPolicyContext",
    "TaskSnapshot",
    "TaskStats",
    "TaskTeardownContext",
    "TasquencerError",
    "TasquencerInvariantError",
    "TransactionAbortedError",
    "TransactionClosedError",
    "TransactionContext",
    "Transition",
    "UnknownChildWorkflowError",
    "UnknownElementError",
    "UnknownVersionError",
    "UnreachableElementError",
    "User",
    "VersionConflictError",
    "VersionsBuilder",
    "WorkItem",
    "WorkItemActionContext",
    "WorkItemActivityContext",
    "WorkItemAutoTriggerAlreadySetError",
    "WorkItemCannotHaveChildrenError",
    "WorkItemInvalidStateError",
    "WorkItemNotFoundError",
    "WorkItemStateChangedContext",
    "WorkItemTaskMigratorContext",
    "WorkItemTeardownContext",
    "WorkflowActivityContext",
    "WorkflowApi",
    "WorkflowCancelContext",
    "WorkflowDefinitionError",
    "WorkflowDeprecatedError",
    "WorkflowInfo",
    "WorkflowInitializeContext",
    "WorkflowInvalidStateError",
    "WorkflowMigrationNotFoundError",
    "WorkflowMissingEndConditionError",
    "WorkflowMissingStartConditionError",
    "WorkflowMultipleEndConditionsError",
    "WorkflowMultipleStartConditionsError",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "WorkflowSnapshot",
    "WorkflowStructure",
    "WorkflowTeardownContext",
    "WorkflowVersions",
    "default_composite_policy",
    "default_task_policy",
    "migrate",
    "testing",
    "versions",
]


def test_the_package_exports_exactly_these_names():
    assert sorted(tq.__all__) == EXPORTED


def test_every_exported_name_exists_and_says_where_it_comes_from():
    for name in tq.__all__:
        member = getattr(tq, name)
        if typing.get_origin(member) is not None:
            continue  # a type alias (`ExecutionMode`, `PolicyDecision`)
        module = getattr(member, "__module__", None) or getattr(member, "__name__", "")
        assert module.startswith("tasquencer"), name


def test_the_contract_names_are_importable_from_the_package():
    for name in (
        "App",
        "Builder",
        "versions",
        "Target",
        "Retry",
        "testing",
        "TasquencerError",
        "InvalidStateTransitionError",
        "WorkItemInvalidStateError",
        "WorkflowInvalidStateError",
        "NotInternalMutationError",
        "TaskInvalidRouteError",
        "WorkItemNotFoundError",
        "WorkflowNotFoundError",
        "TaskNotFoundError",
        "ElementNotFoundInPathError",
        "StructuralIntegrityError",
        "WorkflowDeprecatedError",
        "WorkItemAutoTriggerAlreadySetError",
        "WorkflowMissingStartConditionError",
        "WorkflowMissingEndConditionError",
        "PayloadValidationError",
        "RegisterScheduledNotAllowedError",
        "WorkflowDefinitionError",
    ):
        assert hasattr(tq, name), name
    assert issubclass(tq.PayloadValidationError, ValueError)


def test_records_are_frozen_dataclasses():
    for record in (
        tq.WorkItem,
        tq.ChildWorkflow,
        tq.WorkflowSnapshot,
        tq.WorkflowRecord,
        tq.TaskSnapshot,
        tq.JobRecord,
        tq.Target,
        tq.TaskStats,
    ):
        assert dataclasses.is_dataclass(record), record
        assert record.__dataclass_params__.frozen, record  # type: ignore[attr-defined]


def test_testing_is_reachable_as_an_attribute():
    assert tq.testing.create_app is not None
