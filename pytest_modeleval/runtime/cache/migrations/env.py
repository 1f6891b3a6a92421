"""Alembic environment of the prediction cache: always run on a connection the cache hands over
(runtime/cache/migrate.py), with its own version table and batch mode for SQLite."""

from alembic import context

from pytest_modeleval.runtime.cache.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
