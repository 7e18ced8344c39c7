"""`Core`: what the runtime needs of the app, and nothing more.

The app (`tasquencer.app.App`) builds one and hands it to the runtime's classes (runner,
transactions, workers), so none of them depends on the app itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from tasquencer.engine.execution import VersionLookup
from tasquencer.engine.recording import NULL_RECORDER, TransactionRecorder
from tasquencer.runtime.clock import Clock
from tasquencer.runtime.ids import IdGenerator
from tasquencer.runtime.registry import Registry
from tasquencer.store.sql import Dialect


class JobSignal:
    """Wakes this process's idle workers when a call commits new jobs (or they must stop)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self._event.clear()


@dataclass(frozen=True, eq=False)
class Core:
    engine: sa.Engine
    dialect: Dialect
    clock: Clock
    ids: IdGenerator
    registry: Registry
    # The compiled definition of (workflow name, version name), for rows read from the store.
    versions: VersionLookup
    signal: JobSignal = field(default_factory=JobSignal)
    # What records a call's changes (the audit trail), given the call's time.
    new_recorder: Callable[[datetime], TransactionRecorder] = lambda _: NULL_RECORDER

    def wake_workers(self) -> None:
        self.signal.wake()
