"""How an idle worker learns that a job was scheduled: in-process, and across processes.

Every commit that schedules a job sets the app's in-process signal. On PostgreSQL it also
sends `NOTIFY tasquencer_jobs` (delivered at commit), which workers in any process receive on a
`LISTEN` connection, so a job scheduled for now starts within milliseconds, not at the next poll.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tasquencer.runtime.core import Core

CHANNEL = "tasquencer_jobs"
_SLICE = 0.25  # how often a waiting listener also checks the in-process signal
_RECONNECT_EVERY = 1.0  # while the LISTEN connection is down, the worker polls

log = logging.getLogger("tasquencer.worker")


class Wakeup:
    """Wait until a job may be due, a job was scheduled, or the timeout passes.

    On PostgreSQL a lost `LISTEN` connection (a server restart, a failover) is not fatal: the
    worker falls back to polling and listens again once the server answers.
    """

    def __init__(self, core: Core) -> None:
        self._core = core
        self._signal = core.signal
        self._listens = core.dialect.name == "postgresql"
        self._listener: Any = None
        self._next_attempt = 0.0
        if self._listens:
            self._reconnect()

    def wait(self, timeout: float) -> None:
        if self._listener is None and self._listens and time.monotonic() >= self._next_attempt:
            self._reconnect()
        if self._listener is None:
            self._signal.wait(timeout)
        else:
            self._wait_for_notify(timeout)
        self._signal.clear()

    def _wait_for_notify(self, timeout: float) -> None:
        remaining = timeout
        while remaining > 0 and not self._signal.is_set():
            step = min(_SLICE, remaining)
            try:
                if any(True for _ in self._listener.notifies(timeout=step, stop_after=1)):
                    return
            except Exception as error:
                log.warning("lost the LISTEN connection (%s); polling until it is back", error)
                self.close()
                self._next_attempt = time.monotonic() + _RECONNECT_EVERY
                return
            remaining -= step

    def _reconnect(self) -> None:
        try:
            self._listener = _listen(self._core)
        except Exception as error:
            log.warning("cannot LISTEN for new jobs yet (%s); polling meanwhile", error)
            self._next_attempt = time.monotonic() + _RECONNECT_EVERY

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None


def _listen(core: Core) -> Any:
    import psycopg

    args, kwargs = core.engine.dialect.create_connect_args(core.engine.url)
    connection = psycopg.connect(*args, **kwargs, autocommit=True)
    try:
        connection.execute(f"LISTEN {CHANNEL}")
    except BaseException:
        connection.close()
        raise
    return connection
