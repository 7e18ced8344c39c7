"""The exception hierarchy. Every error names the element, its state and what was expected.

    TasquencerError
    ├── WorkflowDefinitionError          a definition is malformed (raised by app.register)
    │   ├── WorkflowMissingStartConditionError, WorkflowMissingEndConditionError,
    │   │   WorkflowMultipleStartConditionsError, WorkflowMultipleEndConditionsError
    │   ├── DuplicateElementError, UnknownElementError, UnreachableElementError,
    │   │   InvalidFlowError, TaskMissingRouterError, TaskInvalidJoinTypeError
    │   └── DuplicateVersionError, VersionConflictError
    ├── ConfigurationError               the app, a version or a function is not set up right
    │   ├── WorkflowDeprecatedError, UnknownVersionError, FunctionNotRegisteredError,
    │   │   WorkflowMigrationNotFoundError
    ├── TasquencerInvariantError         a state machine refused a transition
    │   ├── InvalidStateTransitionError
    │   │   └── WorkItemInvalidStateError, WorkflowInvalidStateError, TaskInvalidStateError
    │   └── StructuralIntegrityError (UnknownChildWorkflowError), ConstraintViolationError
    ├── EntityNotFoundError
    │   └── WorkflowNotFoundError, WorkItemNotFoundError, TaskNotFoundError,
    │       ConditionNotFoundError, JobNotFoundError, GroupNotFoundError, RoleNotFoundError,
    │       AssignmentNotFoundError
    ├── ElementNotFoundInPathError
    │   └── WorkItemCannotHaveChildrenError
    ├── NotInternalMutationError, TaskInvalidRouteError, InvalidPolicyResultError,
    │   InvalidMigrationModeError,
    │   WorkItemAutoTriggerAlreadySetError, RegisterScheduledNotAllowedError
    ├── AuthorizationError               a policy refused an external call
    │   └── AuthenticationRequiredError (no user), ForbiddenError (this user may not)
    ├── WorkItemClaimError               a claim was refused (also a TasquencerInvariantError)
    │   └── WorkItemAlreadyClaimedError, WorkItemNotOfferedError
    ├── UnknownScopeError (also a ValueError), AlreadyExistsError
    ├── AuditError                       the audit trail cannot answer
    │   └── AuditRecordMissingError (audit was off), WorkflowNotYetCreatedError (too early)
    ├── PayloadValidationError (also a ValueError), SerializationError (also a TypeError)
    └── TransactionAbortedError, TransactionClosedError, NestedCallError,
        ConflictRetriesExhaustedError, WouldWaitError

Messages show the values they were given shortened (`describe`), never whole inputs.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from datetime import datetime

_SHORT = reprlib.Repr()
_SHORT.maxstring = 80
_SHORT.maxother = 80
_SHORT.maxlong = 40
_SHORT.maxlevel = 3
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 6


def describe(value: object) -> str:
    """`repr(value)`, shortened: long strings, large numbers and deep containers are cut."""
    try:
        return _SHORT.repr(value)
    except Exception:  # a user object whose __repr__ fails
        return f"<{type(value).__name__} object>"


class TasquencerError(Exception):
    """Root of every error the engine raises on purpose."""


# --- definitions -----------------------------------------------------------------------------


class WorkflowDefinitionError(TasquencerError):
    """A workflow definition is malformed; raised when it is registered."""


class WorkflowMissingStartConditionError(WorkflowDefinitionError):
    pass


class WorkflowMissingEndConditionError(WorkflowDefinitionError):
    pass


class WorkflowMultipleStartConditionsError(WorkflowDefinitionError):
    pass


class WorkflowMultipleEndConditionsError(WorkflowDefinitionError):
    pass


class DuplicateElementError(WorkflowDefinitionError):
    """Two tasks or conditions of one workflow share a name."""


class UnknownElementError(WorkflowDefinitionError):
    """A flow or cancellation region names a task or condition the workflow does not have."""


class UnreachableElementError(WorkflowDefinitionError):
    """A task or condition cannot be reached from the start condition."""


class InvalidFlowError(WorkflowDefinitionError):
    """A flow the net cannot have (out of the end condition, router on an AND split, ...)."""


class TaskMissingRouterError(WorkflowDefinitionError):
    """An XOR or OR split task has no router."""


class TaskInvalidJoinTypeError(WorkflowDefinitionError, ValueError):
    """A join or split type other than "and", "xor", "or"."""


class DuplicateVersionError(WorkflowDefinitionError):
    pass


class VersionConflictError(WorkflowDefinitionError):
    """The database already holds a different definition under this workflow name and version."""


# --- configuration ---------------------------------------------------------------------------


class ConfigurationError(TasquencerError):
    pass


class WorkflowDeprecatedError(ConfigurationError):
    pass


class UnknownVersionError(ConfigurationError):
    pass


class WorkflowMigrationNotFoundError(ConfigurationError):
    """No migration is declared from an instance's version to the version asked for."""


class FunctionNotRegisteredError(ConfigurationError):
    """A function was called or scheduled that is not registered with the app."""


# --- invariants and state --------------------------------------------------------------------


class TasquencerInvariantError(TasquencerError):
    """Base of the errors that guard the engine's state machines."""


class InvalidStateTransitionError(TasquencerInvariantError):
    code = "INVALID_STATE_TRANSITION"

    def __init__(
        self,
        element: str,
        element_id: str,
        state: str,
        expected: Iterable[str],
        detail: str = "",
        *,
        message: str | None = None,
    ) -> None:
        self.element = element
        self.element_id = element_id
        self.state = state
        self.expected = tuple(expected)
        if message is None:
            message = f"{element} {element_id} is {state!r}; expected {_one_of(self.expected)}"
            if detail:
                message += f" ({detail})"
        super().__init__(message)


class _ElementStateError(InvalidStateTransitionError):
    """A state error about one kind of element, named by the subclass."""

    kind = ""

    def __init__(
        self,
        element_id: str,
        state: str,
        expected: Iterable[str],
        detail: str = "",
        *,
        message: str | None = None,
    ) -> None:
        super().__init__(self.kind, element_id, state, expected, detail, message=message)


class WorkItemInvalidStateError(_ElementStateError):
    kind = "work item"


class WorkflowInvalidStateError(_ElementStateError):
    kind = "workflow"


class TaskInvalidStateError(_ElementStateError):
    kind = "task"


class StructuralIntegrityError(TasquencerInvariantError):
    pass


class UnknownChildWorkflowError(StructuralIntegrityError, KeyError):
    """A dynamic composite task was asked for a child workflow it does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConstraintViolationError(TasquencerInvariantError):
    pass


class NotInternalMutationError(TasquencerError):
    pass


class TaskInvalidRouteError(TasquencerError):
    pass


class InvalidPolicyResultError(TasquencerError):
    pass


class InvalidMigrationModeError(TasquencerError):
    """A task migrator returned something other than a `tq.MigrationMode`."""


class WorkItemAutoTriggerAlreadySetError(TasquencerError):
    pass


class RegisterScheduledNotAllowedError(TasquencerError):
    pass


class PayloadValidationError(TasquencerError, ValueError):
    """A payload does not match the action's schema; `errors` holds pydantic's details."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class TransactionAbortedError(TasquencerError):
    """The call's transaction was rolled back underneath the engine (through `ctx.db`)."""

    def __init__(self) -> None:
        super().__init__(
            "the call's transaction was rolled back through ctx.db (a failed flush, or an "
            "explicit rollback()); its changes are discarded. ctx.db shares the engine's "
            "transaction: to undo a call, raise an exception instead"
        )


class TransactionClosedError(TasquencerError):
    """A call was given the `ctx` of a transaction that has already ended."""


class NestedCallError(TasquencerError):
    """A call was made without `ctx=ctx` from inside another call of the same app."""


class ConflictRetriesExhaustedError(TasquencerError):
    """A call kept losing conflicts with concurrent calls and was given up; nothing of it was
    committed, so the caller may run it again. The last conflict is the `__cause__`."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"the call lost a conflict with concurrent calls on each of its {attempts} attempts "
            "and was given up; nothing of it was committed, so it may be retried"
        )
        self.attempts = attempts


class WouldWaitError(TasquencerError):
    """A call made under `app.without_waiting()` would have had to wait for the database (on
    SQLite: another writer holds it); it did nothing, so it may be made again, waiting."""


class SerializationError(TasquencerError, TypeError):
    """A value that must be stored as JSON (job arguments) is not JSON-serializable."""


# --- authorization and claims ----------------------------------------------------------------


class AuthorizationError(TasquencerError):
    """An external call was refused by the policy of the action it would run; nothing changed."""


class AuthenticationRequiredError(AuthorizationError):
    """The policy refused a call that names no user (an HTTP layer answers 401)."""


class ForbiddenError(AuthorizationError):
    """The policy refused the call's user (an HTTP layer answers 403)."""


class WorkItemClaimError(TasquencerInvariantError):
    """A work item cannot be claimed, or acted on, by this user."""

    def __init__(self, work_item_id: str, claimed_by: str | None, message: str) -> None:
        super().__init__(message)
        self.work_item_id = work_item_id
        self.claimed_by = claimed_by


class WorkItemAlreadyClaimedError(WorkItemClaimError):
    """Someone else holds the claim (a lost race, or another user's work item)."""


class WorkItemNotOfferedError(WorkItemClaimError):
    """The work item is not offered to this user (no offer, another audience, or not open)."""


class UnknownScopeError(TasquencerError, ValueError):
    """A scope that no scope module of the app declares."""


class AlreadyExistsError(TasquencerError):
    """A group or role name, a membership or a role assignment that exists already."""


# --- lookups ---------------------------------------------------------------------------------


class EntityNotFoundError(TasquencerError):
    pass


class WorkflowNotFoundError(EntityNotFoundError):
    pass


class WorkItemNotFoundError(EntityNotFoundError):
    pass


class TaskNotFoundError(EntityNotFoundError):
    pass


class ConditionNotFoundError(EntityNotFoundError):
    pass


class JobNotFoundError(EntityNotFoundError):
    pass


class GroupNotFoundError(EntityNotFoundError):
    pass


class RoleNotFoundError(EntityNotFoundError):
    pass


class AssignmentNotFoundError(EntityNotFoundError):
    """A membership or role assignment to remove does not exist."""


class ElementNotFoundInPathError(TasquencerError):
    pass


class WorkItemCannotHaveChildrenError(ElementNotFoundInPathError):
    pass


def _one_of(values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return repr(values[0])
    return "one of " + ", ".join(repr(v) for v in values)


class AuditError(TasquencerError):
    """The audit trail cannot answer a question about a workflow's past."""


class AuditRecordMissingError(AuditError):
    """The workflow's creation was not recorded (the app ran with `audit=None` then)."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            f"workflow {workflow_id} has no audit record of its creation: it was created while "
            "the app ran with audit=None, so its past states cannot be reconstructed"
        )


class WorkflowNotYetCreatedError(AuditError, ValueError):
    """A past state was asked for a time before the workflow existed."""

    def __init__(self, workflow_id: str, when: datetime, created_at: datetime) -> None:
        self.workflow_id = workflow_id
        self.when = when
        self.created_at = created_at
        super().__init__(
            f"workflow {workflow_id} did not exist at {when.isoformat()}: it was created at "
            f"{created_at.isoformat()}"
        )
