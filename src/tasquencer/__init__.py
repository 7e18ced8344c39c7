"""tasquencer: a YAWL workflow engine for long-running business processes, on SQLAlchemy.

import tasquencer as tq
from tasquencer import Builder

app = tq.App("sqlite:///app.db")
versions = app.register(tq.versions("approval").version("v1", workflow))
api = versions.api("v1")
"""

from tasquencer.api.facade import ApiFunction, WorkflowApi
from tasquencer.api.records import (
    ChildWorkflow,
    Target,
    TaskSnapshot,
    WorkflowRecord,
    WorkflowSnapshot,
    WorkItem,
)
from tasquencer.builder import Builder
from tasquencer.engine.contexts import ParentInfo, TaskInfo, TaskStats, Transition, WorkflowInfo
from tasquencer.engine.policies import PolicyResult
from tasquencer.engine.routing import Route
from tasquencer.errors import (
    ConditionNotFoundError,
    ConfigurationError,
    ConstraintViolationError,
    DuplicateElementError,
    DuplicateVersionError,
    ElementNotFoundInPathError,
    EntityNotFoundError,
    FunctionNotRegisteredError,
    InvalidFlowError,
    InvalidPolicyResultError,
    InvalidStateTransitionError,
    JobNotFoundError,
    NotInternalMutationError,
    PayloadValidationError,
    RegisterScheduledNotAllowedError,
    SerializationError,
    StructuralIntegrityError,
    TaskInvalidJoinTypeError,
    TaskInvalidRouteError,
    TaskInvalidStateError,
    TaskMissingRouterError,
    TaskNotFoundError,
    TasquencerError,
    TasquencerInvariantError,
    TransactionAbortedError,
    UnknownElementError,
    UnknownVersionError,
    UnreachableElementError,
    WorkflowDefinitionError,
    WorkflowDeprecatedError,
    WorkflowInvalidStateError,
    WorkflowMissingEndConditionError,
    WorkflowMissingStartConditionError,
    WorkflowMultipleEndConditionsError,
    WorkflowMultipleStartConditionsError,
    WorkflowNotFoundError,
    WorkItemAutoTriggerAlreadySetError,
    WorkItemCannotHaveChildrenError,
    WorkItemInvalidStateError,
    WorkItemNotFoundError,
)
from tasquencer.runtime.app import App
from tasquencer.runtime.clock import FakeClock, SystemClock
from tasquencer.runtime.registry import Retry
from tasquencer.runtime.scheduler import JobRecord
from tasquencer.versioning.versions import VersionsBuilder, WorkflowVersions, versions

__all__ = [
    "ApiFunction",
    "App",
    "Builder",
    "ChildWorkflow",
    "ConditionNotFoundError",
    "ConfigurationError",
    "ConstraintViolationError",
    "DuplicateElementError",
    "DuplicateVersionError",
    "ElementNotFoundInPathError",
    "EntityNotFoundError",
    "FakeClock",
    "FunctionNotRegisteredError",
    "InvalidFlowError",
    "InvalidPolicyResultError",
    "InvalidStateTransitionError",
    "JobNotFoundError",
    "JobRecord",
    "NotInternalMutationError",
    "ParentInfo",
    "PayloadValidationError",
    "PolicyResult",
    "RegisterScheduledNotAllowedError",
    "Retry",
    "Route",
    "SerializationError",
    "StructuralIntegrityError",
    "SystemClock",
    "Target",
    "TaskInfo",
    "TaskInvalidJoinTypeError",
    "TaskInvalidRouteError",
    "TaskInvalidStateError",
    "TaskMissingRouterError",
    "TaskNotFoundError",
    "TaskSnapshot",
    "TaskStats",
    "TasquencerError",
    "TasquencerInvariantError",
    "TransactionAbortedError",
    "Transition",
    "UnknownElementError",
    "UnknownVersionError",
    "UnreachableElementError",
    "VersionsBuilder",
    "WorkItem",
    "WorkItemAutoTriggerAlreadySetError",
    "WorkItemCannotHaveChildrenError",
    "WorkItemInvalidStateError",
    "WorkItemNotFoundError",
    "WorkflowApi",
    "WorkflowDefinitionError",
    "WorkflowDeprecatedError",
    "WorkflowInfo",
    "WorkflowInvalidStateError",
    "WorkflowMissingEndConditionError",
    "WorkflowMissingStartConditionError",
    "WorkflowMultipleEndConditionsError",
    "WorkflowMultipleStartConditionsError",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "WorkflowSnapshot",
    "WorkflowVersions",
    "versions",
]
