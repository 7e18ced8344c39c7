"""Writers on one SQLite file take turns, within this process, on a lock of their own.

SQLite lets one writer in at a time. A writer that finds the file locked sleeps and tries
again (the driver's busy handler waits 1, 2, 5, ... then 100 ms between tries), so when threads
of one process contend (a web server's thread pool, a worker's threads) a call spends most of
its time asleep after the file was free again: four HTTP clients completing work items at
once had a p99 of 83 ms where one alone needed 3.5 ms. Waiting on a lock of this process instead
wakes the next writer the moment the previous one is done. Writers in other processes still
meet on SQLite's own lock, busy handler and all.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

_locks: dict[Path, threading.Lock] = {}
_guard = threading.Lock()


def _forget_locks() -> None:
    # A lock held by another thread of the parent would stay held in a forked child forever.
    global _guard
    _locks.clear()
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks)


class WriterTurns:
    """The turns of writers on one SQLite file; `timeout` as the driver's busy timeout."""

    def __init__(self, database: str, timeout: float) -> None:
        self._path = Path(database).expanduser().resolve()
        self._timeout = timeout

    def take_turn(self, *, wait: bool = True) -> threading.Lock | None:
        """Wait for this file's turn (or, with `wait=False`, None if another writer has it);
        the caller releases the lock returned when done."""
        lock = self._lock()
        if not wait:
            return lock if lock.acquire(blocking=False) else None
        if not lock.acquire(timeout=self._timeout):
            # What the driver raises when its busy timeout runs out: the runner retries it.
            raise sqlite3.OperationalError(
                f"database is locked: another writer of this process held {self._path.name} "
                f"for over {self._timeout:g} s"
            )
        return lock

    def _lock(self) -> threading.Lock:
        lock = _locks.get(self._path)
        if lock is None:
            with _guard:
                lock = _locks.setdefault(self._path, threading.Lock())
        return lock
