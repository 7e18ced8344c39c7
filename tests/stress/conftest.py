"""Fixtures of the stress tests (PostgreSQL only, real processes; see support.py)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.stress.support import URL_ENV, fresh_schema

JOBS_APP = "tests.stress.jobs_app"


@pytest.fixture
def jobs_app(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """`tests.stress.jobs_app`, freshly imported on a new schema whose tables are created;
    worker processes started with `STRESS_DB_URL` (set here) share it."""
    with fresh_schema(postgres_url) as url:
        monkeypatch.setenv(URL_ENV, url)
        sys.modules.pop(JOBS_APP, None)
        module = importlib.import_module(JOBS_APP)
        try:
            module.create_tables()
            yield module
        finally:
            module.app.close()
            sys.modules.pop(JOBS_APP, None)
