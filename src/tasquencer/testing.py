"""Test support: an app on a fresh database with a clock that only moves when told to.

app = tq.testing.create_app()                  # a temporary SQLite file
app = tq.testing.create_app(url=POSTGRES_URL)  # a fresh schema, dropped by app.close()
...
app.clock.advance(3600)
app.run_due_jobs()

with tq.testing.serve(tq.web.create_app(app)) as url:  # a real HTTP server, for browser tests
    ...
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tasquencer.app import App
from tasquencer.runtime.clock import FakeClock
from tasquencer.runtime.ids import IdGenerator


class TestApp(App):
    """An `App` whose `clock` is a `FakeClock` (`app.clock.advance(seconds)`)."""

    __test__ = False  # not a pytest test class
    clock: FakeClock

    def __init__(
        self, url: str, *, clock: FakeClock, drop_schema: str | None = None, **options: Any
    ) -> None:
        super().__init__(url, clock=clock, **options)
        self._drop_schema = drop_schema

    def close(self) -> None:
        super().close()
        if self._drop_schema is not None:
            _drop_schema(self.url, self._drop_schema)
            self._drop_schema = None


def create_app(
    path: str | Path | None = None,
    *,
    url: str | None = None,
    start: datetime | None = None,
    **options: Any,
) -> TestApp:
    """An app on a fresh database with a fake clock.

    With no arguments: a temporary SQLite file. `path`: that SQLite file. `url`: that database;
    for PostgreSQL, a new schema in it, used through `search_path` and dropped on `close()`.
    """
    if url is not None and path is not None:
        raise ValueError("give create_app a path or a url, not both")
    if url is not None and sa.make_url(url).get_backend_name() == "postgresql":
        schema = f"tq_test_{IdGenerator().new_id().lower()}"
        _create_schema(url, schema)
        scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        return TestApp(
            scoped.render_as_string(hide_password=False),
            clock=FakeClock(start),
            drop_schema=schema,
            **options,
        )
    if url is None:
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="tasquencer-test-")) / "app.db"
        url = f"sqlite:///{path}"
    return TestApp(url, clock=FakeClock(start), **options)


@contextmanager
def serve(asgi_app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI application with uvicorn in a background thread while the block runs;
    yields its base URL (`http://127.0.0.1:PORT`; port 0 picks a free one)."""
    import uvicorn

    config = uvicorn.Config(asgi_app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tasquencer-test-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the test server could not start on {host}:{port}")
            thread.join(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def _create_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()


def _drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()
