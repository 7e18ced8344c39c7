"""Registered functions: mutations, queries and actions that can be called and scheduled."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tasquencer import arguments
from tasquencer.errors import FunctionNotRegisteredError, describe

FunctionKind = Literal["mutation", "query", "action"]
# A mutation job runs again when its worker dies before committing it; one whose worker keeps
# dying (the mutation exhausts memory, say) is given up after this many claims.
MUTATION_ATTEMPTS = 5
MAX_RETRY_ATTEMPTS = 1000
MAX_DELAY = 30 * 24 * 3600.0  # a backoff of more than a month is a mistake


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry policy of an action: at-least-once with exponential backoff and jitter."""

    attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        arguments.integer(self.attempts, "Retry.attempts", minimum=1, maximum=MAX_RETRY_ATTEMPTS)
        arguments.number(self.initial_delay, "Retry.initial_delay", minimum=0, maximum=MAX_DELAY)
        arguments.number(self.max_delay, "Retry.max_delay", minimum=0, maximum=MAX_DELAY)
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"Retry.max_delay ({self.max_delay!r}) must be at least Retry.initial_delay "
                f"({self.initial_delay!r})"
            )


@dataclass(frozen=True, slots=True)
class FunctionDef:
    name: str
    kind: FunctionKind
    fn: Callable[..., Any]
    internal: bool = False
    retry: Retry | None = None
    # Given the call's arguments, the workflow trees it works on (API methods; runtime.runner).
    trees: Callable[[dict[str, Any]], Any] | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    @property
    def max_attempts(self) -> int:
        """How many times a job of this function may be started (claimed) in all."""
        if self.kind == "mutation":
            return MUTATION_ATTEMPTS
        return self.retry.attempts if self.retry else 1


class Registry:
    """Functions by name and by the object the user holds (the function, or an API method)."""

    def __init__(self) -> None:
        self._by_name: dict[str, FunctionDef] = {}
        self._by_object: dict[int, tuple[object, FunctionDef]] = {}
        # API methods, by (id of the API object, method name): a bound method is a new object
        # at every attribute access, so it cannot be found by identity.
        self._by_method: dict[tuple[int, str], tuple[object, FunctionDef]] = {}

    def add(self, handle: object, definition: FunctionDef) -> FunctionDef:
        self._add_name(definition)
        self._by_object[id(handle)] = (handle, definition)
        return definition

    def add_method(self, owner: object, name: str, definition: FunctionDef) -> FunctionDef:
        """Register `owner.name` (an API method), found later through `owner.name`."""
        self._add_name(definition)
        self._by_method[(id(owner), name)] = (owner, definition)
        return definition

    def _add_name(self, definition: FunctionDef) -> None:
        known = self._by_name.get(definition.name)
        if known is not None and known.fn is not definition.fn:
            raise ValueError(
                f"another function is already registered as {definition.name!r}; "
                "pass name=... to register this one under a different name"
            )
        self._by_name[definition.name] = definition

    def definitions(self) -> list[FunctionDef]:
        """Every registered function, by name."""
        return [self._by_name[name] for name in sorted(self._by_name)]

    def resolve(self, function: object) -> FunctionDef:
        """The definition of a registered function, given the function itself or its name."""
        found: FunctionDef | None
        if isinstance(function, str):
            found = self._by_name.get(function)
        elif inspect.ismethod(function):
            owner = function.__self__
            method = self._by_method.get((id(owner), function.__name__))
            found = method[1] if method is not None and method[0] is owner else None
        else:
            entry = self._by_object.get(id(function))
            found = entry[1] if entry is not None and entry[0] is function else None
        if found is None:
            hint = ""
            if isinstance(function, str) and "<locals>" in function:
                hint = (
                    " (it was defined inside another function: give it a stable name with "
                    "@app.action(name=...) so every process registers it under the same name)"
                )
            raise FunctionNotRegisteredError(
                f"{_describe(function)} is not registered with this app; decorate it with "
                f"@app.mutation, @app.query or @app.action{hint}"
            )
        return found


def function_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _describe(function: object) -> str:
    if isinstance(function, str):
        return f"the function {describe(function)}"
    name = getattr(function, "__qualname__", None) or repr(function)
    return f"the function {name}"
