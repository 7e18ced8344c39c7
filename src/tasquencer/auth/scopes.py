"""Scope modules: the permissions an app declares, named `<module>:<scope>`.

    er = tq.scopes("er").scope("triage:write", description="Record a triage decision")
    tq.App(url, auth=tq.Auth(scopes=[er]))          # declares "er:triage:write"

A module nested with `.module(other)` contributes `other`'s scopes prefixed with `"<other>:"`.
Roles may only be given declared scopes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tasquencer.errors import UnknownScopeError, describe
from tasquencer.records import Scope

ModuleKind = Literal["domain", "system"]


@dataclass(frozen=True, slots=True)
class ScopeModule:
    """An immutable group of scopes; every method returns a new module."""

    name: str
    kind: ModuleKind = "domain"
    local: tuple[Scope, ...] = ()
    nested: tuple[ScopeModule, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(
                f"a scope module's name is a non-empty str without ':', got {describe(self.name)}"
            )

    def scope(
        self,
        name: str,
        *,
        description: str = "",
        tags: Sequence[str] = (),
        deprecated: bool = False,
    ) -> ScopeModule:
        """Declare a scope of this module (`name` may contain ':', as in "triage:write")."""
        if not isinstance(name, str) or not name or name.startswith(":") or name.endswith(":"):
            raise ValueError(f"a scope's name is a non-empty str, got {describe(name)}")
        if any(s.name == name for s in self.local):
            raise ValueError(f"scope module {self.name!r} already declares {name!r}")
        declared = Scope(name, description, tuple(tags), deprecated, self.kind)
        return replace(self, local=(*self.local, declared))

    def module(self, nested: ScopeModule) -> ScopeModule:
        """Include another module's scopes, prefixed with its name."""
        if not isinstance(nested, ScopeModule):
            raise TypeError(f"module() takes a tq.scopes(...) module, got {describe(nested)}")
        return replace(self, nested=(*self.nested, nested))

    def scopes(self) -> tuple[Scope, ...]:
        """Every scope of the module with its full name, `<module>:...`."""
        inner = [*self.local, *(s for m in self.nested for s in m.scopes())]
        return tuple(replace(s, name=f"{self.name}:{s.name}") for s in inner)


def scopes(name: str) -> ScopeModule:
    """A module of domain scopes: `tq.scopes("er").scope("triage:write")`."""
    return ScopeModule(name)


def system_scopes(name: str) -> ScopeModule:
    """A module of system scopes (administration rather than the business)."""
    return ScopeModule(name, "system")


class ScopeRegistry:
    """The scopes an app declares, by full name."""

    def __init__(self, modules: Iterable[ScopeModule]) -> None:
        self._scopes: dict[str, Scope] = {}
        for module in modules:
            if not isinstance(module, ScopeModule):
                raise TypeError(f"tq.Auth(scopes=...) takes tq.scopes(...) modules, got {module!r}")
            for declared in module.scopes():
                if declared.name in self._scopes:
                    raise ValueError(f"the scope {declared.name!r} is declared twice")
                self._scopes[declared.name] = declared

    def all(self) -> list[Scope]:
        return sorted(self._scopes.values(), key=lambda s: s.name)

    def require(self, names: Iterable[str], where: str) -> tuple[str, ...]:
        """`names`, de-duplicated in order, if every one is declared."""
        given = list(dict.fromkeys(names))
        unknown = [n for n in given if not isinstance(n, str) or n not in self._scopes]
        if unknown:
            known = ", ".join(sorted(self._scopes)[:8]) or "none: declare them with tq.scopes(...)"
            raise UnknownScopeError(
                f"{where}: unknown scope(s) {', '.join(describe(n) for n in unknown[:5])}; "
                f"the app declares {known}"
            )
        return tuple(given)
