"""Test support: an app on a temporary SQLite file with a clock that only moves when told to."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from tasquencer.runtime.app import App
from tasquencer.runtime.clock import FakeClock


class TestApp(App):
    """An `App` whose `clock` is a `FakeClock` (`app.clock.advance(seconds)`)."""

    __test__ = False  # not a pytest test class
    clock: FakeClock

    def __init__(self, url: str, *, clock: FakeClock, **options: Any) -> None:
        super().__init__(url, clock=clock, **options)


def create_app(
    path: str | Path | None = None, *, start: datetime | None = None, **options: Any
) -> TestApp:
    """An app on a fresh SQLite file (a temporary one unless `path` is given)."""
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="tasquencer-test-")) / "app.db"
    return TestApp(f"sqlite:///{path}", clock=FakeClock(start), **options)
