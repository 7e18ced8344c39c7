"""Shared fixtures. Every test that takes `app` runs on SQLite and on PostgreSQL.

`--backend sqlite|postgresql|all` (default all) picks the databases. PostgreSQL tests get a
fresh schema in a database made for this session; when no server can be had they are skipped,
loudly (see the end of the run). `--run-slow` runs the full-size stress tests.

Property and fuzz tests (hypothesis, schemathesis) draw the same examples on every run, so a run
of the suite (CI's included) checks what the last one checked, and a failure can be repeated.
`--hypothesis-profile=explore` draws new ones at random, with `--hypothesis-seed=N` to repeat a
run: how new inputs are searched for (docs/testing.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tasquencer import testing
from tests import postgres_server

# examples/support_desk.py opens its own database when imported: not in the working folder.
os.environ.setdefault(
    "SUPPORT_DESK_DATABASE", str(Path(tempfile.mkdtemp(prefix="support-desk-")) / "desk.db")
)

settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("repeatable")  # `--hypothesis-profile=explore` replaces it

BACKENDS = ("sqlite", "postgresql")
_server: postgres_server.Server | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend", choices=("all", *BACKENDS), default="all", help="databases to test on"
    )
    parser.addoption("--run-slow", action="store_true", help="run full-size stress tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite itself")
    config.addinivalue_line("markers", "postgres_only: the test is about PostgreSQL itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--backend")
    backends = BACKENDS if chosen == "all" else (chosen,)
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = tuple(b for b in backends if b == "sqlite")
    if metafunc.definition.get_closest_marker("postgres_only"):
        backends = tuple(b for b in backends if b == "postgresql")
    metafunc.parametrize("backend", backends)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="full-size stress test: run with --run-slow")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


def postgres() -> postgres_server.Server:
    """The session's PostgreSQL database, started or repaired on first use."""
    global _server
    if _server is None:
        _server = postgres_server.session_database()
    return _server


@pytest.fixture
def postgres_url() -> str:
    server = postgres()
    if server.url is None:
        pytest.skip(f"NO POSTGRESQL SERVER: {server.problem}")
    return server.url


@pytest.fixture
def database_url(backend: str, tmp_path) -> Iterator[str]:
    """An empty database for tests that open apps on it themselves (real clock, several apps
    in turn, `auto_migrate=False`): a SQLite file, or a fresh PostgreSQL schema dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'database.db'}"
        return
    server = postgres()
    if server.url is None:
        pytest.skip(f"NO POSTGRESQL SERVER: {server.problem}")
    holder = testing.create_app(url=server.url, auto_migrate=False)  # only owns the schema
    try:
        yield holder.url
    finally:
        holder.close()


@pytest.fixture
def app(backend: str, tmp_path) -> Iterator[testing.TestApp]:
    if backend == "sqlite":
        test_app = testing.create_app(tmp_path / "app.db")
    else:
        server = postgres()
        if server.url is None:
            pytest.skip(f"NO POSTGRESQL SERVER: {server.problem}")
        test_app = testing.create_app(url=server.url)
    yield test_app
    test_app.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _server is None:
        return
    for repair in _server.repairs:
        terminalreporter.write_line(f"PostgreSQL set-up: {repair}", yellow=True)
    if _server.url is None:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS WERE SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"no PostgreSQL server could be had: {_server.problem}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _server is not None and _server.url is not None:
        postgres_server.drop_database(_server.url)
