"""Connecting to the database: SQLite settings, transaction begin modes, schema upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from tasquencer.errors import ConfigurationError

SCHEMA_HEAD = "0001"
VERSION_TABLE = "tasquencer_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def create_engine(url: str, *, sqlite_synchronous: str = "FULL", **options: Any) -> sa.Engine:
    """An engine for the app. SQLite runs in WAL mode; mutations begin IMMEDIATE."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_synchronous, options)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"tasquencer runs on SQLite or PostgreSQL; {parsed.get_backend_name()!r} is not "
            "supported"
        )
    return sa.create_engine(parsed, **options)


def _sqlite_engine(url: sa.URL, synchronous: str, options: dict[str, Any]) -> sa.Engine:
    if url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "tasquencer needs a SQLite file (sqlite:///path/to/app.db), not an in-memory "
            "database: workers and later calls open their own connections"
        )
    if synchronous.upper() not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}, got {synchronous!r}"
        )
    connect_args = {"timeout": 30.0, "check_same_thread": False, **options.pop("connect_args", {})}
    engine = sa.create_engine(url, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below, not the driver, decide where transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: sa.Connection) -> None:
        # A writer takes the lock up front: no deadlock between two read-then-write calls.
        mode = "BEGIN" if connection.info.get("tasquencer_read_only") else "BEGIN IMMEDIATE"
        connection.connection.driver_connection.execute(mode)  # type: ignore[union-attr]

    return engine


def upgrade_schema(engine: sa.Engine) -> None:
    """Bring the engine's tables to the current schema (a no-op when they are)."""
    if current_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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
