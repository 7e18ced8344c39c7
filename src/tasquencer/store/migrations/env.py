"""Alembic environment of tasquencer's own tables (version table: tasquencer_alembic_version)."""

from alembic import context

from tasquencer.store.tables import metadata

VERSION_TABLE = "tasquencer_alembic_version"


def run_migrations_online() -> None:
    """Run with the connection `tasquencer.store.database.upgrade_schema` passes in."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
