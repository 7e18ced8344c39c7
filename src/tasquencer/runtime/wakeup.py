"""How an idle worker learns that a job was scheduled: in-process, and across processes.

Every commit that schedules a job sets the app's in-process signal. On PostgreSQL it also
sends `NOTIFY tasquencer_jobs` (delivered at commit), which workers in any process receive on a
`LISTEN` connection, so a job scheduled for now starts within milliseconds, not at the next poll.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasquencer.runtime.app import App

CHANNEL = "tasquencer_jobs"
_SLICE = 0.25  # how often a waiting listener also checks the in-process signal


class Wakeup:
    """Wait until a job may be due, a job was scheduled, or the timeout passes."""

    def __init__(self, app: App) -> None:
        self._signal: threading.Event = app._job_signal
        self._listener: Any = _listen(app) if app.dialect.name == "postgresql" else None

    def wait(self, timeout: float) -> None:
        if self._listener is None:
            self._signal.wait(timeout)
            self._signal.clear()
            return
        remaining = timeout
        while remaining > 0 and not self._signal.is_set():
            step = min(_SLICE, remaining)
            if any(True for _ in self._listener.notifies(timeout=step, stop_after=1)):
                break
            remaining -= step
        self._signal.clear()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def _listen(app: App) -> Any:
    import psycopg

    args, kwargs = app.engine.dialect.create_connect_args(app.engine.url)
    connection = psycopg.connect(*args, **kwargs, autocommit=True)
    connection.execute(f"LISTEN {CHANNEL}")
    return connection
