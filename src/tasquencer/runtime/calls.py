"""`Runtime`: how registered functions are called, each mutation in its own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tasquencer.runtime.core import Core
from tasquencer.runtime.functions import MutationCtx, QueryCtx
from tasquencer.runtime.registry import FunctionDef, FunctionKind
from tasquencer.runtime.runner import Runner
from tasquencer.runtime.transaction import Transaction


class Runtime:
    """The runtime's services on one app: transactions, and calls of registered functions."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.runner = Runner(core)

    def run_mutation(self, function: object, /, **kwargs: Any) -> Any:
        """Run a registered mutation in its own transaction and return its result.

        On PostgreSQL a call that loses a conflict with a concurrent one is run again from
        the start, so mutations must be deterministic.
        """
        definition = self.resolve(function, "mutation")
        trees = definition.trees(kwargs) if definition.trees else ()
        return self.runner.run(lambda tx: definition.fn(MutationCtx(tx), **kwargs), trees=trees)

    def run_query(self, function: object, /, **kwargs: Any) -> Any:
        definition = self.resolve(function, "query")
        return self.runner.run(lambda tx: definition.fn(QueryCtx(tx), **kwargs), read_only=True)

    def run_action(self, function: object, /, **kwargs: Any) -> Any:
        """Run a registered action here and now (not as a job); async actions run to completion."""
        from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx

        definition = self.resolve(function, "action")
        if definition.is_async:
            return asyncio.run(definition.fn(AsyncActionCtx(self), **kwargs))
        return definition.fn(ActionCtx(self), **kwargs)

    async def run_action_async(self, function: object, /, **kwargs: Any) -> Any:
        from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx

        definition = self.resolve(function, "action")
        if definition.is_async:
            return await definition.fn(AsyncActionCtx(self), **kwargs)
        return await asyncio.to_thread(definition.fn, ActionCtx(self), **kwargs)

    def resolve(self, function: object, kind: FunctionKind) -> FunctionDef:
        definition = self.core.registry.resolve(function)
        if definition.kind != kind:
            raise TypeError(
                f"{definition.name} is registered as a {definition.kind}, not a {kind}; "
                f"use app.run_{definition.kind}(...)"
            )
        return definition

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Transaction]:
        """One transaction, not retried: committed if the block returns, rolled back if not."""
        with self.runner.transaction(read_only=read_only) as tx:
            yield tx
