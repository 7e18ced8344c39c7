"""Apps configured with `tq.Auth`, on SQLite and PostgreSQL like the `app` fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import tasquencer as tq
from tasquencer import testing
from tests.auth.support import SCOPES
from tests.conftest import postgres
from tests.test_cli import write_app  # noqa: F401  (a fixture of the CLI tests)

MakeApp = Callable[..., testing.TestApp]


@pytest.fixture
def make_app(backend: str, tmp_path) -> Iterator[MakeApp]:
    """`make_app(get_user=fn)`: an app declaring the test scopes, closed after the test."""
    opened: list[testing.TestApp] = []

    def make(**auth: object) -> testing.TestApp:
        config = tq.Auth(scopes=auth.pop("scopes", SCOPES), **auth)  # type: ignore[arg-type]
        if backend == "sqlite":
            made = testing.create_app(tmp_path / f"app{len(opened)}.db", auth=config)
        else:
            server = postgres()
            if server.url is None:
                pytest.skip(f"NO POSTGRESQL SERVER: {server.problem}")
            made = testing.create_app(url=server.url, auth=config)
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()


@pytest.fixture
def auth_app(make_app: MakeApp) -> testing.TestApp:
    return make_app()
