"""Shared fixtures: a fresh app per test on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasquencer import testing


@pytest.fixture
def app(tmp_path) -> Iterator[testing.TestApp]:
    test_app = testing.create_app(tmp_path / "app.db")
    yield test_app
    test_app.close()
