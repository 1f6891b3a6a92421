"""Alembic's entry point for the results DB: always run from `pytest_modeleval.results.migrate` on an open connection."""

from alembic import context

from pytest_modeleval.results.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata(), version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
