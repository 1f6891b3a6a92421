"""Bring a prediction cache DB to the schema this code knows, or refuse one it does not.

Opening a cache checks one row (the Alembic version); only a DB that is new or behind runs
Alembic, inside a lock (SQLite's write lock, PostgreSQL's advisory lock) so workers that open
the same new DB together migrate it once. A file from before Alembic (tables, no version)
is stamped at revision 0001 and upgraded, so its predictions are kept.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from .schema import HEAD, REVISIONS, VERSION_TABLE

SCRIPTS = Path(__file__).parent / "migrations"
_ADVISORY_KEY = 0x6D6F64656C  # "model": one lock id for migrating the cache tables


class CacheSchemaError(RuntimeError):
    """A cache DB this code must not touch (newer schema, or not a prediction cache)."""


def current_revision(conn: sa.Connection) -> str | None:
    """The stamped revision; "legacy" for a pre-Alembic cache; None for an empty DB."""
    inspector = sa.inspect(conn)
    if inspector.has_table(VERSION_TABLE):
        row = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
        if row is not None:
            return row[0]
    return "legacy" if inspector.has_table("predictions") else None


def check_known(revision: str | None, name: str) -> None:
    if revision not in (None, "legacy", *REVISIONS):
        raise CacheSchemaError(
            f"prediction cache {name}: its schema is at revision {revision!r}, newer than this pytest-modeleval "
            f"knows (up to {HEAD!r}); upgrade pytest-modeleval, or point --eval-cache-db at another cache")


def ensure_head(engine: sa.Engine, name: str) -> None:
    """Migrate to HEAD (creating, adopting or upgrading); a no-op read when already there."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    check_known(revision, name)
    if revision == HEAD:
        return
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)  # SQLite: BEGIN IMMEDIATE takes the write lock
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            revision = current_revision(conn)  # another process may have migrated meanwhile
            check_known(revision, name)
            if revision == "legacy":
                _check_legacy(conn, name)
                _alembic(conn, "stamp", "0001")
            if revision != HEAD:
                _alembic(conn, "upgrade", HEAD)


def _check_legacy(conn: sa.Connection, name: str) -> None:
    columns = {c["name"] for c in sa.inspect(conn).get_columns("predictions")}
    expected = {"key", "model_hash", "kind", "value", "prompt_tokens", "completion_tokens", "created_at"}
    if columns != expected:
        raise CacheSchemaError(f"prediction cache {name}: it has a 'predictions' table that is not a "
                               f"pytest-modeleval cache (columns {sorted(columns)})")


def _alembic(conn: sa.Connection, command_name: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    getattr(command, command_name)(config, revision)
