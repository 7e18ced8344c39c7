"""Core statements compiled once per dialect and run on the DBAPI cursor of the call's connection.

The engine's statements are SQLAlchemy Core objects, so the SQL is dialect-correct; they are
compiled once and executed directly on the driver cursor of the SQLAlchemy `Connection` that
owns the transaction. Core's per-execute bookkeeping (about 20-30 µs a statement) is larger than
the whole budget of a workflow step, so the hot path skips it; values are converted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect as SADialect

Params = Mapping[str, Any]
Row = tuple[Any, ...]

# `connection.info` key of the statements to go out ahead of the transaction's next one, in its
# round trip (PostgreSQL): the BEGIN the runner left (see runtime.runner), then lookups whose
# answers can wait (`Db.ahead`). A list of `Ahead`.
AHEAD = "tasquencer_ahead"


class Ahead(NamedTuple):
    """A statement sent ahead of the next one; `check` gets its first row once both ran."""

    sql: str
    params: Params | None = None
    check: Callable[[Row | None], None] | None = None


def send_ahead(info: dict[Any, Any], cursor: Any) -> None:
    """Run the statements left ahead on `cursor`, one by one (a statement not sent by `Db`)."""
    for sql, params, check in info.pop(AHEAD, ()):
        cursor.execute(sql, params)
        if check is not None:
            check(cursor.fetchone())


class Dialect:
    """How one database spells parameters and stores JSON, timestamps and booleans."""

    name: str
    compiler: SADialect

    def json_in(self, value: Any) -> Any:
        raise NotImplementedError

    def json_out(self, value: Any) -> Any:
        raise NotImplementedError

    def time_in(self, value: datetime | None) -> Any:
        raise NotImplementedError

    def time_out(self, value: Any) -> datetime | None:
        raise NotImplementedError

    def bool_in(self, value: bool) -> Any:
        return value

    def path_out(self, value: Any) -> tuple[str, ...]:
        """A stored workflow path (a JSON list of names)."""
        return tuple(self.json_out(value))

    def job_ids_in(self, job_ids: tuple[str, ...]) -> Any:
        """An element's tied jobs as stored: a JSON list, NULL when there are none."""
        return self.json_in(list(job_ids)) if job_ids else None

    def job_ids_out(self, value: Any) -> tuple[str, ...]:
        return tuple(self.json_out(value)) if value is not None else ()


class _SQLiteCompiler(sqlite.base.SQLiteCompiler):
    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        # `with_hint(table, "INDEXED BY ix", "sqlite")`: SQLAlchemy renders no hint for SQLite.
        return text


class _SQLiteCompilerDialect(sqlite.dialect):  # type: ignore[misc,valid-type]
    statement_compiler = _SQLiteCompiler


class SQLiteDialect(Dialect):
    """Same storage formats as SQLAlchemy's own SQLite types (JSON text, naive UTC text)."""

    name = "sqlite"
    compiler = _SQLiteCompilerDialect(paramstyle="named")

    def __init__(self) -> None:
        # A call stamps many rows with the same instant: format it once.
        self._last_time: tuple[datetime | None, str | None] = (None, None)

    def json_in(self, value: Any) -> Any:
        return json.dumps(value)

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def time_in(self, value: datetime | None) -> Any:
        if value is None:
            return None
        last = self._last_time
        if last[0] is value:
            return last[1]
        # isoformat pads the year to four digits (strftime's %Y does not below 1000), so the
        # text sorts as the time does and reads back with fromisoformat.
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        self._last_time = (value, text)
        return text

    def time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def bool_in(self, value: bool) -> Any:
        return 1 if value else 0

    def path_out(self, value: Any) -> tuple[str, ...]:
        return _parsed_path(value)


@lru_cache(maxsize=1024)
def _parsed_path(text: str) -> tuple[str, ...]:
    """A definition has few paths, stored as the same text in every instance: parse each once."""
    return tuple(json.loads(text))


class PostgresDialect(Dialect):
    name = "postgresql"
    compiler = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

    def json_in(self, value: Any) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    def json_out(self, value: Any) -> Any:
        return value

    def time_in(self, value: datetime | None) -> Any:
        return value

    def time_out(self, value: Any) -> datetime | None:
        return value  # type: ignore[no-any-return]


def dialect_for(name: str) -> Dialect:
    if name == "sqlite":
        return SQLiteDialect()
    if name == "postgresql":
        return PostgresDialect()
    raise ValueError(f"tasquencer supports SQLite and PostgreSQL, not {name!r}")


class Statement:
    """A Core statement (or one per dialect), compiled once per dialect.

    Values written into the statement itself (`state == "pending"`, `.limit(1)`) become bound
    parameters when compiled; they are kept as defaults and merged into every execution.
    """

    __slots__ = ("_compiled", "core")

    def __init__(self, core: sa.Executable | Mapping[str, sa.Executable]) -> None:
        self.core = core
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            core = self.core[dialect.name] if isinstance(self.core, Mapping) else self.core
            compiled = core.compile(dialect=dialect.compiler)  # type: ignore[attr-defined]
            defaults = {
                name: value
                for name, value in compiled.params.items()
                if not compiled.binds[name].required
            }
            found = self._compiled[dialect.name] = (str(compiled), defaults)
        return found

    def sql(self, dialect: Dialect) -> str:
        return self.compiled(dialect)[0]


class Db:
    """The engine's handle on the current transaction's connection."""

    __slots__ = ("_cursor", "_info", "_pipeline", "connection", "dialect")

    def __init__(self, connection: sa.Connection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._cursor: Any = None
        self._info = connection.info
        self._pipeline: Any = None  # psycopg's, while `pipelined()` runs

    @property
    def _driver(self) -> Any:
        """psycopg's connection under the call's."""
        return self.connection.connection.driver_connection

    @property
    def cursor(self) -> Any:
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        return self._cursor

    def all(self, statement: Statement, params: Params) -> list[Row]:
        cursor = self._execute(statement, params)
        return cursor.fetchall()  # type: ignore[no-any-return]

    def all_together(
        self, statement: Statement, params: Params, also: Statement, also_params: Params
    ) -> tuple[list[Row], list[Row]]:
        """The rows of two statements read in one round trip (PostgreSQL, in a pipeline)."""
        first_sql, first_defaults = statement.compiled(self.dialect)
        second_sql, second_defaults = also.compiled(self.dialect)
        cursor = self.cursor
        opened = self._sending_ahead() if AHEAD in self._info else _pipeline(self._driver)
        with opened:
            cursor.execute(first_sql, {**first_defaults, **params})
            other = self._driver.execute(second_sql, {**second_defaults, **also_params})
        with other:
            return cursor.fetchall(), other.fetchall()

    def one(self, statement: Statement, params: Params) -> Row | None:
        cursor = self._execute(statement, params)
        return cursor.fetchone()  # type: ignore[no-any-return]

    def run(self, statement: Statement, params: Params) -> int:
        cursor = self._execute(statement, params)
        if self._pipeline is not None:
            self._pipeline.sync()  # its row count comes with its result
        return cursor.rowcount  # type: ignore[no-any-return]

    def write(self, statement: Statement, params: Params) -> None:
        """A statement whose result nobody reads (in `pipelined()`, no round trip of its own)."""
        sql, defaults = statement.compiled(self.dialect)
        row = {**defaults, **params} if defaults else params
        if AHEAD in self._info:
            with self._sending_ahead():
                self.cursor.execute(sql, row)
        else:
            self.cursor.execute(sql, row)

    def run_many(self, statement: Statement, params: Sequence[Params] | Iterable[Params]) -> None:
        sql, defaults = statement.compiled(self.dialect)
        rows = [{**defaults, **row} for row in params] if defaults else list(params)
        if not rows:
            return
        if AHEAD in self._info:
            with self._sending_ahead():
                self.cursor.executemany(sql, rows)
        elif len(rows) == 1:  # one round trip, where a batch costs a pipeline on PostgreSQL
            self.cursor.execute(sql, rows[0])
        else:
            self.cursor.executemany(sql, rows)

    def ahead(
        self, statement: Statement, params: Params, check: Callable[[Row | None], None]
    ) -> None:
        """Run a lookup whose answer can wait: on PostgreSQL it goes out with the next
        statement, in its round trip, and `check` gets its row before that statement's rows
        are seen (it may raise). On SQLite it runs now."""
        sql, defaults = statement.compiled(self.dialect)
        if defaults:
            params = {**defaults, **params}
        if self.dialect.name == "postgresql":
            self._info.setdefault(AHEAD, []).append(Ahead(sql, params, check))
        else:
            check(self.cursor.execute(sql, params).fetchone())

    def writes(self) -> AbstractContextManager[Any]:
        """A block of statements whose results nobody reads before it ends.

        On PostgreSQL they go out in one round trip (psycopg's pipeline mode) and any error is
        raised when the block ends; SQLite runs in-process, so there is nothing to save.
        """
        if self.dialect.name != "postgresql" or self._pipeline is not None:
            return nullcontext()
        if AHEAD in self._info:
            return self._sending_ahead()
        return _pipeline(self._driver)

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """The block's statements in one pipeline (PostgreSQL): each goes out as it comes, and
        a round trip is waited for only where a result is read. Errors surface there or when
        the block ends. What was sent ahead is checked before the block runs."""
        if self.dialect.name != "postgresql":
            yield
            return
        ahead = AHEAD in self._info
        opened = self._sending_ahead(check_first=True) if ahead else _pipeline(self._driver)
        with opened as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None

    def commit(self) -> None:
        """COMMIT the transaction; in `pipelined()`, it goes out with the block's statements.

        For a transaction the runner began on the driver (left in autocommit mode)."""
        self._driver.execute("COMMIT")

    def _execute(self, statement: Statement, params: Params) -> Any:
        sql, defaults = statement.compiled(self.dialect)
        cursor = self.cursor
        if AHEAD in self._info:
            with self._sending_ahead():
                cursor.execute(sql, {**defaults, **params} if defaults else params)
            return cursor  # its results were read when the pipeline ended
        cursor.execute(sql, {**defaults, **params} if defaults else params)
        return cursor

    @contextmanager
    def _sending_ahead(self, *, check_first: bool = False) -> Iterator[Any]:
        """A pipeline that sends the statements left ahead before the block's: one round trip
        for all (PostgreSQL). Their checks run when the pipeline ends (or, `check_first`,
        after a round trip for them alone, before the block runs)."""
        driver_connection = self._driver
        checks: list[tuple[Any, Callable[[Row | None], None]]] = []
        with _pipeline(driver_connection) as pipeline:
            for sql, params, check in self._info.pop(AHEAD):
                cursor = driver_connection.execute(sql, params)
                if check is not None:
                    checks.append((cursor, check))
            if check_first and checks:
                pipeline.sync()
                _run_checks(checks)
                checks = []
            yield pipeline
        _run_checks(checks)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


def _run_checks(checks: list[tuple[Any, Callable[[Row | None], None]]]) -> None:
    for cursor, check in checks:
        check(cursor.fetchone())


@contextmanager
def _pipeline(driver_connection: Any) -> Iterator[Any]:
    """psycopg's pipeline mode, where a failed statement raises its own error, once.

    The statements queued after a failed one are aborted. When the failure surfaces inside the
    block (psycopg reads results as it goes), leaving the pipeline would raise again for those
    and log "error ignored terminating ... pipeline aborted"; their results are drained here
    instead, so only the first error (typically a conflict the runner retries) goes on.
    """
    with driver_connection.pipeline() as pipeline:
        try:
            yield pipeline
        except BaseException:
            with suppress(Exception):  # the aborted statements' PipelineAborted
                pipeline.sync()
            raise
