"""Bring a results DB to this version's schema (Alembic), or refuse one written by a newer version.

Structural changes are Alembic revisions in results/migrations/versions/; a column or a table added
to tables.py's dicts needs none: it is added here to a DB that lacks it (nullable, as every column is),
which is how the tables have always grown. The DB records SCHEMA_VERSION (tables.py) that last wrote
it (a one-row table; on SQLite also PRAGMA user_version, where schema 5 and older kept it), so code
older than the DB says so instead of writing rows it does not understand. Opening a DB that is
already current costs two small queries; Alembic is only loaded when there is something to do.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from .db import Database, DatabaseError
from .schema import SCHEMA_TABLE, TYPES, VERSION_TABLE, metadata, tables
from .tables import SCHEMA_VERSION, TABLES

HEAD = "0005"  # the newest revision in results/migrations/versions (a test checks it against Alembic's)
SCRIPTS = Path(__file__).parent / "migrations"
LOCK_KEY = 190_001  # pg_advisory_xact_lock: one migrating process at a time on a shared server


class SchemaError(DatabaseError):
    """A results DB this version of the code cannot use (written by a newer one)."""


def stored_version(db: Database) -> int | None:
    """The SCHEMA_VERSION that last wrote the DB (None for a new, empty one)."""
    present = set(db.table_names())
    if SCHEMA_TABLE in present:
        schema = tables()[SCHEMA_TABLE]
        version = db.scalar(sa.select(schema.c.version).where(schema.c.id == 1))
        if version is not None:
            return int(version)
    if db.dialect == "sqlite":
        version = db.scalar(sa.text("PRAGMA user_version"))
        return int(version) if version or "runs" in present else None
    return None


def current_revision(db: Database) -> str | None:
    if VERSION_TABLE not in db.table_names():
        return None
    return db.scalar(sa.select(_version_table().c.version_num))


def _version_table():
    """Alembic's version table, as much of it as is read here."""
    return sa.table(VERSION_TABLE, sa.column("version_num"))


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(SCRIPTS)).walk_revisions()}


def missing_columns(db: Database) -> list[tuple[str, str, type]]:

    present = db.columns()
    return [(table, name, kind) for table, columns in TABLES.items() if table in present
            for name, kind in columns.items() if name not in present[table]]


def check(db: Database) -> bool:
    """Raise SchemaError for a DB newer than the code; True when it needs upgrading."""
    
    version = stored_version(db)
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaError(f"results database {db.label} has schema version {version}, newer than this "
                          f"pytest-modeleval understands ({SCHEMA_VERSION}): upgrade pytest-modeleval "
                          f"to use it (it was not changed)")
    revision = current_revision(db)
    if revision is not None and revision != HEAD and revision not in known_revisions():
        raise SchemaError(f"results database {db.label} is at schema revision {revision!r}, which this "
                          f"pytest-modeleval does not know (its newest is {HEAD!r}): it was written by a newer "
                          f"version; upgrade pytest-modeleval to use it (it was not changed)")
    
    return (version != SCHEMA_VERSION or revision != HEAD or not set(TABLES) <= set(db.table_names())
            or bool(missing_columns(db)))


def upgrade(db: Database) -> None:
    """Run the Alembic revisions up to HEAD, add the columns the DB lacks, record SCHEMA_VERSION."""
    if not check(db):
        return
    if db.readonly:
        raise SchemaError(f"results database {db.label} is at an older schema; open it once for writing "
                          f"(any pytest run or `modeleval` command that writes) to upgrade it")
    from alembic import command
    from alembic.config import Config

    
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    try:
        with db.engine.begin() as connection:
            if db.dialect == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
            config.attributes["connection"] = connection
            # a DB from before the migrations (no version table) is adopted by the baseline revision,
            # which creates only the tables it lacks; its columns are completed below
            command.upgrade(config, "head")
            metadata().create_all(connection, checkfirst=True)  # a table new in TABLES (additive)
            missing = missing_columns_on(connection)
            if missing:
                from alembic.operations import Operations
                from alembic.runtime.migration import MigrationContext

                operations = Operations(MigrationContext.configure(connection))
                for table, name, kind in missing:
                    operations.add_column(table, sa.Column(name, TYPES[kind]))
            schema = tables()[SCHEMA_TABLE]
            connection.execute(sa.delete(schema))
            connection.execute(sa.insert(schema).values(id=1, version=SCHEMA_VERSION))
            if db.dialect == "sqlite":  # a PRAGMA takes no parameters: the constant of tables.py
                connection.execute(sa.text(f"PRAGMA user_version = {int(SCHEMA_VERSION)}"))
    except SchemaError:
        raise
    except Exception as exc:  # noqa: BLE001
        from .db import _reason

        raise DatabaseError(f"results database {db.label}: cannot bring its schema up to date: "
                            f"{_reason(exc, db)}") from None


def missing_columns_on(connection) -> list[tuple[str, str, type]]:
    """missing_columns, read through the migrating connection (it sees the tables just created)."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    out = []
    for table, columns in TABLES.items():
        if table not in present:
            continue
        have = {column["name"] for column in inspector.get_columns(table)}
        out += [(table, name, kind) for name, kind in columns.items() if name not in have]
    return out
