"""Locks on workflow trees (PostgreSQL): calls on one tree take turns (see runtime.runner)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from tasquencer.store import locks
from tasquencer.store.sql import Db, Row

# What an API call is known to work on: ("work_item" | "workflow", id).
TreeHint = tuple[Literal["work_item", "workflow"], str]


class TreeBusyError(Exception):
    """Another call holds a workflow tree this one needs: run again, queued for it."""

    def __init__(self, roots: set[str]) -> None:
        super().__init__(f"workflow trees in use by another call: {sorted(roots)}")
        self.roots = roots


class TreeLocks:
    """The workflow trees a call holds locks on (PostgreSQL; see runtime.runner)."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.held: set[str] = set()

    def hold(self, roots: Iterable[str]) -> None:
        """Note trees whose session lock this call already holds."""
        self.held.update(roots)

    def lock(self, root: str) -> None:
        """Take the tree's lock for this transaction, or raise `TreeBusyError` at once."""
        if root in self.held:
            return
        (locked,) = self.db.one(locks.TRY_LOCK_TREE, {"root": root}) or (False,)
        if not locked:
            raise TreeBusyError({root})
        self.held.add(root)

    def lock_trees_of(self, hints: Iterable[TreeHint]) -> None:
        """Lock the trees of the call's targets, checked before the call sees any row: the
        lookups go out with its first statement."""
        for kind, element_id in hints:
            statement = (
                locks.TRY_LOCK_TREE_OF_WORK_ITEM
                if kind == "work_item"
                else locks.TRY_LOCK_TREE_OF_WORKFLOW
            )
            self.db.ahead(statement, {"id": element_id}, self._locked)

    def _locked(self, found: Row | None) -> None:
        if found is None:
            return  # an unknown id: the call itself reports it
        root, locked = found
        if not locked and root not in self.held:
            raise TreeBusyError({root})
        self.held.add(root)
