"""Connecting to the database: SQLite settings, transaction begin modes, schema upgrades."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from tasquencer.errors import ConfigurationError, describe
from tasquencer.store.sql import AHEAD, send_ahead

SCHEMA_HEAD = "0006"
VERSION_TABLE = "tasquencer_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the file's lock before giving up
# `connection.info` key set when SQLAlchemy rolls a SQLite connection's transaction back.
ROLLED_BACK = "tasquencer_rolled_back"


def create_engine(url: str, *, sqlite_synchronous: str = "FULL", **options: Any) -> sa.Engine:
    """An engine for the app. SQLite runs in WAL mode; mutations begin IMMEDIATE."""
    if not isinstance(url, str):
        raise ConfigurationError(
            f"tq.App needs a database URL (a str such as 'sqlite:///app.db' or "
            f"'postgresql+psycopg://user@host/db'), got {describe(url)}"
        )
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigurationError(
            f"{describe(url)} is not a database URL; use 'sqlite:///path/to/app.db' or "
            "'postgresql+psycopg://user@host/db'"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_synchronous, options)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"tasquencer runs on SQLite or PostgreSQL; {parsed.get_backend_name()!r} is not "
            "supported"
        )
    engine = sa.create_engine(parsed, **options)

    @event.listens_for(engine, "before_cursor_execute")
    def begin(connection: sa.Connection, cursor: Any, *_: Any) -> None:
        # A call's transaction whose first statement comes through SQLAlchemy (ctx.db, API
        # reads); the engine's own statements go through store.sql.Db, which does the same.
        if AHEAD in connection.info:
            send_ahead(connection.info, cursor)

    return engine


def _sqlite_engine(url: sa.URL, synchronous: str, options: dict[str, Any]) -> sa.Engine:
    if url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "tasquencer needs a SQLite file (sqlite:///path/to/app.db), not an in-memory "
            "database: workers and later calls open their own connections"
        )
    folder = Path(url.database).expanduser().resolve().parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"the SQLite file {url.database!r} cannot be created: its folder {str(folder)!r} "
            "does not exist"
        )
    if not isinstance(synchronous, str) or synchronous.upper() not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}, got {synchronous!r}"
        )
    connect_args = {
        "timeout": SQLITE_BUSY_TIMEOUT,
        "check_same_thread": False,
        **options.pop("connect_args", {}),
    }
    engine = sa.create_engine(url, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below, not the driver, decide where transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _switch_to_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: sa.Connection) -> None:
        driver: Any = connection.connection.driver_connection
        if driver.in_transaction:
            return  # begun by the runner on the driver (a call's `ctx.db` joins it here)
        # A writer takes the lock up front: no deadlock between two read-then-write calls.
        driver.execute(sqlite_begin(read_only=bool(connection.info.get("tasquencer_read_only"))))

    @event.listens_for(engine, "rollback")
    def rollback(connection: sa.Connection) -> None:
        # So the runner sees a call's transaction rolled back under it through ctx.db, even
        # when ctx.db went on and began another.
        connection.info[ROLLED_BACK] = True

    return engine


def sqlite_begin(*, read_only: bool) -> str:
    return "BEGIN" if read_only else "BEGIN IMMEDIATE"


def _switch_to_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode=WAL`, which needs a moment of exclusive access: processes opening
    a new file at once can find it locked, so a locked database is tried again."""
    deadline = time.monotonic() + 30.0
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.25, delay * 2)


def is_missing_schema(error: BaseException) -> bool:
    """Whether an error says the engine's tables do not exist (an unmigrated database)."""
    orig = getattr(error, "orig", error)
    text = str(orig)
    missing = "no such table" in text or getattr(orig, "sqlstate", None) == "42P01"
    return missing and "tasquencer_" in text


def upgrade_schema(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the engine's tables to the current schema (a no-op when they are), or to an
    earlier `revision` (the tests of the migrations begin there)."""
    if revision == "head" and current_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        connection.info["tasquencer_read_only"] = True
        try:
            if not sa.inspect(connection).has_table(VERSION_TABLE):
                return None
            revision: str | None = connection.execute(
                sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
            ).scalar()
            return revision
        finally:
            connection.info.pop("tasquencer_read_only", None)
            connection.rollback()
