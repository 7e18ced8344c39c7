"""`Runtime`: how registered functions are called, each mutation in its own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tasquencer.contexts import EXTERNAL, INTERNAL, Caller, User
from tasquencer.errors import NotInternalMutationError
from tasquencer.runtime.core import Core
from tasquencer.runtime.functions import MutationCtx, QueryCtx, caller_of, transaction_of
from tasquencer.runtime.registry import FunctionDef, FunctionKind
from tasquencer.runtime.runner import Runner
from tasquencer.runtime.transaction import Transaction

# Who is behind a call's `user=`: a `tq.User`, or None for nobody (see `tasquencer.auth.users`).
UserResolver = Callable[[object], User | None]


class Runtime:
    """The runtime's services on one app: transactions, and calls of registered functions."""

    def __init__(self, core: Core, users: UserResolver) -> None:
        self.core = core
        self.runner = Runner(core)
        self.users = users

    def caller(self, internal: bool, user: object) -> Caller:
        """The caller of a call made outside any transaction by `user` (a source the app's
        user provider reads)."""
        resolved = self.users(user)
        if resolved is None:
            return INTERNAL if internal else EXTERNAL
        return Caller(internal, resolved)

    def nested_caller(self, nested: Caller, user: object) -> Caller:
        """A nested call's caller: the outer call's user unless `user=` names another."""
        resolved = self.users(user)
        if resolved is None:
            return nested
        return Caller(nested.is_internal, resolved, nested.correlation_id)

    def run_mutation(
        self,
        function: object,
        /,
        *,
        ctx: object = None,
        internal: bool = False,
        user: object = None,
        **kwargs: Any,
    ) -> Any:
        """Run a registered mutation and return its result: in a transaction of its own, or,
        given `ctx=ctx`, inside that context's transaction, all or nothing.

        The call is external unless `internal=True` (given `ctx`, it is the outer call's, or
        internal with `internal=True`), and made by `user` (given `ctx`, by the outer call's
        user unless `user=` names another). On PostgreSQL a call that loses a conflict with a
        concurrent one is run again from the start, so mutations must be deterministic.
        """
        definition = self.resolve(function, "mutation")
        if ctx is not None:
            tx = transaction_of(ctx, writable=True, call=definition.name)
            caller = self.nested_caller(_nested_caller(ctx, internal), user)
            _require_allowed(definition, caller)
            return tx.run_nested(lambda: definition.fn(MutationCtx(tx, caller), **kwargs))
        caller = self.caller(internal, user)
        _require_allowed(definition, caller)
        trees = definition.trees(kwargs) if definition.trees else ()
        return self.runner.run(
            lambda tx: definition.fn(MutationCtx(tx, caller), **kwargs), trees=trees
        )

    def run_query(
        self,
        function: object,
        /,
        *,
        ctx: object = None,
        internal: bool = False,
        user: object = None,
        **kwargs: Any,
    ) -> Any:
        """Run a registered query in a read-only transaction (or in `ctx`'s transaction)."""
        definition = self.resolve(function, "query")
        if ctx is not None:
            tx = transaction_of(ctx, writable=False, call=definition.name)
            caller = self.nested_caller(_nested_caller(ctx, internal), user)
            _require_allowed(definition, caller)
            tx.uow.flush()
            return definition.fn(QueryCtx(tx, caller), **kwargs)
        caller = self.caller(internal, user)
        _require_allowed(definition, caller)
        return self.runner.run(
            lambda tx: definition.fn(QueryCtx(tx, caller), **kwargs), read_only=True
        )

    def run_action(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        """Run a registered action here and now (not as a job); async actions run to completion."""
        from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx

        definition = self.resolve(function, "action")
        caller = self.caller(internal, user)
        _require_allowed(definition, caller)
        if definition.is_async:
            return asyncio.run(definition.fn(AsyncActionCtx(self, caller=caller), **kwargs))
        return definition.fn(ActionCtx(self, caller=caller), **kwargs)

    async def run_action_async(
        self, function: object, /, *, internal: bool = False, user: object = None, **kwargs: Any
    ) -> Any:
        from tasquencer.runtime.actions import ActionCtx, AsyncActionCtx

        definition = self.resolve(function, "action")
        caller = self.caller(internal, user)
        _require_allowed(definition, caller)
        if definition.is_async:
            return await definition.fn(AsyncActionCtx(self, caller=caller), **kwargs)
        return await asyncio.to_thread(definition.fn, ActionCtx(self, caller=caller), **kwargs)

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


def _nested_caller(ctx: object, internal: bool) -> Caller:
    outer = caller_of(ctx)
    return outer.as_internal() if internal else outer


def _require_allowed(definition: FunctionDef, caller: Caller) -> None:
    if definition.internal and not caller.is_internal:
        raise NotInternalMutationError(
            f"{definition.name} is registered internal=True: jobs, actions and server code "
            f"that says so (app.run_{definition.kind}(..., internal=True)) may call it, an "
            "external call may not"
        )
