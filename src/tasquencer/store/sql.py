"""Core statements compiled once per dialect and run on the DBAPI cursor of the call's connection.

The engine's statements are SQLAlchemy Core objects, so the SQL is dialect-correct; they are
compiled once and executed directly on the driver cursor of the SQLAlchemy `Connection` that
owns the transaction. Core's per-execute bookkeeping (about 20-30 µs a statement) is larger than
the whole budget of a workflow step, so the hot path skips it; values are converted here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect as SADialect

Params = Mapping[str, Any]
Row = tuple[Any, ...]

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


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


class SQLiteDialect(Dialect):
    """Same storage formats as SQLAlchemy's own SQLite types (JSON text, naive UTC text)."""

    name = "sqlite"
    compiler = sqlite.dialect(paramstyle="named")

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
        text = value.astimezone(UTC).strftime(_SQLITE_TIME)
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
    """A Core statement (or one per dialect) with its SQL text cached per dialect."""

    __slots__ = ("_sql", "core")

    def __init__(self, core: sa.Executable | Mapping[str, sa.Executable]) -> None:
        self.core = core
        self._sql: dict[str, str] = {}

    def sql(self, dialect: Dialect) -> str:
        text = self._sql.get(dialect.name)
        if text is None:
            core = self.core[dialect.name] if isinstance(self.core, Mapping) else self.core
            compiled = core.compile(  # type: ignore[attr-defined]
                dialect=dialect.compiler, compile_kwargs={"render_postcompile": True}
            )
            text = self._sql[dialect.name] = str(compiled)
        return text


class Db:
    """The engine's handle on the current transaction's connection."""

    __slots__ = ("_cursor", "connection", "dialect")

    def __init__(self, connection: sa.Connection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._cursor: Any = None

    @property
    def cursor(self) -> Any:
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        return self._cursor

    def all(self, statement: Statement, params: Params) -> list[Row]:
        cursor = self.cursor
        cursor.execute(statement.sql(self.dialect), params)
        return cursor.fetchall()  # type: ignore[no-any-return]

    def one(self, statement: Statement, params: Params) -> Row | None:
        cursor = self.cursor
        cursor.execute(statement.sql(self.dialect), params)
        return cursor.fetchone()  # type: ignore[no-any-return]

    def run(self, statement: Statement, params: Params) -> int:
        cursor = self.cursor
        cursor.execute(statement.sql(self.dialect), params)
        return cursor.rowcount  # type: ignore[no-any-return]

    def run_many(self, statement: Statement, params: Sequence[Params] | Iterable[Params]) -> None:
        rows = list(params)
        if rows:
            self.cursor.executemany(statement.sql(self.dialect), rows)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
