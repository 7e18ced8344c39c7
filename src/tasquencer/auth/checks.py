"""At registration: the scopes a definition names (offers, scope policies) must be declared."""

from __future__ import annotations

from tasquencer.auth.scopes import ScopeRegistry
from tasquencer.engine.definitions import CompiledVersion
from tasquencer.engine.payloads import ActionDef
from tasquencer.records import Offer


def check_scopes(version: CompiledVersion, registry: ScopeRegistry) -> None:
    """Raise `UnknownScopeError` naming the first element that names an undeclared scope."""
    label = f"workflow {version.workflow_name!r} {version.version_name}"
    for workflow in version.workflows.values():
        for action in (workflow.initialize_action, workflow.cancel_action):
            _check_policy(
                action, f"{label}: the {action.name} action of {workflow.name!r}", registry
            )
        for task in workflow.tasks.values():
            widef = task.work_item
            if widef is None:
                continue
            where = f"{label}: work item {widef.name!r} of task {task.name!r}"
            if isinstance(widef.offer, Offer) and widef.offer.kind == "scope":
                registry.require([widef.offer.target], f"{where}, its offer")
            for action in widef.actions.values():
                _check_policy(action, f"{where}, its {action.name} action", registry)


def _check_policy(action: ActionDef, where: str, registry: ScopeRegistry) -> None:
    named = getattr(action.policy, "required_scopes", ())
    if named:
        registry.require(named, f"{where}'s policy")
