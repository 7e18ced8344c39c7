"""A connection held by each thread between its calls (SQLite).

Checking a connection out of SQLAlchemy's pool and back in costs about as much CPU as a whole
read: the checkout, the `Connection` object, and the ROLLBACK the pool resets it with on
return. On SQLite a call's connection carries nothing from one call to the next (the runner
sets everything it needs per call), so each thread keeps the one it used, up to the pool's
size; a thread beyond that checks one out per call as before. A held connection goes back to
the pool when its thread ends, when a call on it fails (it may be dead or half-way through
something), when the engine is disposed (its next call gets a new connection) and when the app
is closed.
"""

from __future__ import annotations

import os
import threading
import weakref
from contextlib import suppress

import sqlalchemy as sa

_forks = [0]  # bumped in a forked child: what a thread held before belongs to the parent
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class _Held:
    """One thread's connection; released when the thread ends and drops it."""

    __slots__ = ("__weakref__", "connection", "fork", "pool")

    def __init__(self, connection: sa.Connection, pool: sa.Pool) -> None:
        self.connection: sa.Connection | None = connection
        self.fork = _forks[0]
        self.pool = pool  # `engine.dispose()` replaces the pool: then this one is let go

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with suppress(Exception):  # a dead connection is discarded by the pool anyway
                connection.close()

    def __del__(self) -> None:
        self.release()


class HeldConnections:
    """This thread's held connection for a call (`checkout`, then `checkin`), or one from
    the pool for that call only."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()

    def checkout(self) -> sa.Connection:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.fork != _forks[0]:
            held.connection = None  # a forked child must not touch its parent's connection
            held = None
        elif held is not None and held.pool is not self._engine.pool:
            held.release()  # the engine was disposed: new calls get new connections
            held = None
        if held is None:
            held = self._local.held = self._hold()
        if held is None or held.connection is None:
            return self._engine.connect()
        return held.connection

    def checkin(self, connection: sa.Connection, *, failed: bool) -> None:
        """The call is over; a failed one may have left its connection dead or half-way."""
        held: _Held | None = self._local.held
        if held is None or held.connection is not connection:
            connection.close()
        elif failed or connection.invalidated or connection.in_transaction():
            held.release()
            self._local.held = None

    def close(self) -> None:
        """Give every thread's connection back (the app is closing)."""
        with self._lock:
            held = list(self._all)
        for one in held:
            one.release()

    def _hold(self) -> _Held | None:
        """A connection this thread keeps, while the pool has room for one more."""
        pool = self._engine.pool
        with self._lock:
            if not isinstance(pool, sa.QueuePool) or pool.checkedout() >= pool.size():
                return None
            held = _Held(self._engine.connect(), pool)
            self._all.add(held)
        return held
