"""The results DB through one small facade, the same on SQLite and on PostgreSQL.

Every query of results/ is a SQLAlchemy Core statement over schema.tables(), compiled here by SQLAlchemy
for the DB's dialect (`execute`, `query`, `rows`, `one`, `scalar`); `db[table]` keeps the handful of
sqlite-utils table calls the code grew up with (`insert / upsert / update / get / rows_where`), built as
Core statements (an insert that may meet a taken key is the dialect's own, with ON CONFLICT). There is no
other way in: no SQL strings, no placeholder rewriting; a statement only one dialect has (PRAGMA, VACUUM)
is `sqlalchemy.text`. `with db.transaction():` opens a transaction. A dropped connection outside a
transaction is reopened and the statement retried once; inside one it is an error naming the DB (never
its password).
"""

from __future__ import annotations

import contextlib
import datetime
import json
from pathlib import Path
from typing import Any

from .. import dburl
from .tables import TABLES


class DatabaseError(RuntimeError):
    """A results DB that cannot be opened, read or written; the message names it without its password."""


class NotFoundError(DatabaseError, KeyError):
    """`Table.get` of a key the table does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


def target_label(target) -> str:
    """How a DB is named in messages: the path, or the URL without its password."""
    return dburl.redact(str(target))


def engine_url(target) -> str:
    """The SQLAlchemy URL of a path (SQLite) or of a DB URL."""
    if dburl.is_url(str(target)):
        return dburl.sqlalchemy_url(str(target))
    return f"sqlite:///{Path(target)}"


def exists(target) -> bool:
    """Whether the DB is there to be read (a file; for a server, one that answers and holds a `runs` table)."""
    path = dburl.local_path(target)
    if path is not None:
        return path.is_file()
    with reading(target) as db:
        return db is not None


@contextlib.contextmanager
def reading(target, tables=("runs",)):
    """A read-only connection to an existing results DB, or None when it (or one of `tables`) is not there yet."""
    path = dburl.local_path(target)
    if path is not None and not path.is_file():
        yield None
        return
    db = Database(target, readonly=True)
    try:
        yield db if set(tables) <= set(db.table_names()) else None
    finally:
        db.close()


def _value(value):
    """What the DB stores for a Python value (as sqlite-utils did: JSON for lists and dicts)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


class Database:
    """One connection to a results DB (a path or a URL), autocommit unless inside `with db.transaction():`."""

    def __init__(self, target, *, readonly: bool = False, timeout: float = 30.0):
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        self.target = target
        self.label = target_label(target)
        self.readonly = readonly
        url = engine_url(target)
        if not dburl.is_url(str(target)) and not readonly:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        args = {"timeout": timeout} if url.startswith("sqlite") else {"connect_timeout": int(timeout)}
        self.engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
        self.dialect = self.engine.dialect.name  # "sqlite" or "postgresql"
        if self.dialect == "sqlite":
            _transactional_sqlite(self.engine)
        self._depth = 0
        self._raw: Any = None  # the pool's connection (None for a read-only SQLite file, opened directly)
        self._dbapi: Any = None  # the driver's own connection: sqlite3 or psycopg
        self._connect()

    # --- the connection ---------------------------------------------------------------------------
    def _connect(self) -> None:
        try:
            if self.dialect == "sqlite" and self.readonly:
                import sqlite3

                path = Path(self.engine.url.database or "").resolve()
                if not path.is_file():
                    raise DatabaseError(f"results database {self.label} does not exist")
                self._raw = None
                self._dbapi = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None,
                                              check_same_thread=False)
            else:
                self._raw = self.engine.raw_connection()
                self._dbapi = self._raw.driver_connection
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 (the driver's own error, reworded with the DB's name)
            raise DatabaseError(f"cannot open the results database {self.label}: {_reason(exc, self)}") from None
        if self.dialect == "sqlite":
            self._dbapi.isolation_level = None  # autocommit; `with db.conn:` begins and commits
            self._dbapi.execute("PRAGMA busy_timeout = 30000")
            if not self.readonly:
                self._dbapi.execute("PRAGMA journal_mode = WAL")
        else:
            from psycopg.types.numeric import FloatLoader

            self._dbapi.autocommit = True
            # SUM / AVG of integers are NUMERIC in PostgreSQL; the code expects what SQLite gives: numbers
            self._dbapi.adapters.register_loader("numeric", FloatLoader)
            if self.readonly:
                self._dbapi.execute("SET default_transaction_read_only = on")

    def _lost(self, exc: Exception) -> bool:
        """Whether the driver error means the connection is gone (not a bad statement)."""
        if self.dialect != "postgresql":
            return False
        import psycopg

        return isinstance(exc, psycopg.OperationalError) and (self._dbapi.closed or self._dbapi.broken)

    def _compile(self, statement, keys=None):
        """A SQLAlchemy Core statement as its dialect's SQL (SQLAlchemy's own compiler: the parameter style,
        quoting and IN lists are the dialect's); `keys`: the columns of the rows an executemany binds."""
        return statement.compile(dialect=self.engine.dialect, column_keys=keys,
                                 compile_kwargs={"render_postcompile": True})

    @staticmethod
    def _bound(compiled, row=None):
        """The parameters of a compiled statement (with one row's values), in the driver's style."""
        params = compiled.construct_params(row)
        if compiled.positiontup is not None:
            return tuple(params[name] for name in compiled.positiontup)
        return params

    def _cursor_run(self, statement, params, many: bool = False):
        """A Core statement: its parameters bound in it, or (`many`) one row of `params` each."""
        cursor = self._dbapi.cursor()
        if many:
            rows = [{key: _value(value) for key, value in row.items()} for row in params]
            compiled = self._compile(statement, list(rows[0]))
            cursor.executemany(compiled.string, [self._bound(compiled, row) for row in rows])
        else:
            compiled = self._compile(statement)
            cursor.execute(compiled.string, self._bound(compiled))
        return cursor

    def execute(self, sql, params=(), *, many: bool = False):
        """Run one statement (or one per parameter row); the DB-API cursor, rows as tuples. `sql` is a
        SQLAlchemy Core statement (select, insert, update, delete, text: its parameters bound in it; with
        `many`, an insert run once per row of `params`, dicts with the same keys)."""
        if isinstance(sql, str):
            raise TypeError("the results DB takes SQLAlchemy Core statements (sqlalchemy.text for one dialect's "
                            f"own), not SQL strings: {sql[:60]!r}")
        try:
            return self._cursor_run(sql, params, many)
        except Exception as exc:  # noqa: BLE001
            if self._lost(exc):
                if self._depth:
                    raise DatabaseError(f"the connection to the results database {self.label} was lost in the "
                                        f"middle of a write; the transaction was rolled back: "
                                        f"{_reason(exc, self)}") from None
                self.reconnect()
                try:
                    return self._cursor_run(sql, params, many)
                except Exception as again:  # noqa: BLE001
                    raise self._error(again) from None
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> Exception:
        if self._lost(exc) or _is_driver_error(exc):
            return DatabaseError(f"results database {self.label}: {_reason(exc, self)}")
        return exc

    def reconnect(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (a dead connection may fail to close)
            pass
        self._connect()

    def query(self, sql):
        """Rows as dicts (a generator); `sql` as for `execute`."""
        cursor = self.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row))

    def rows(self, statement) -> list[dict]:
        """A Core select's rows as dicts."""
        return list(self.query(statement))

    def one(self, statement) -> dict | None:
        """A Core select's first row as a dict, or None."""
        rows = self.rows(statement)
        return rows[0] if rows else None

    def scalar(self, statement):
        """A Core select's first column of its first row (None without rows)."""
        row = self.execute(statement).fetchone()
        return row[0] if row else None

    def transaction(self) -> "Transaction":
        return Transaction(self)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        else:
            self._dbapi.close()
        self.engine.dispose()

    # --- the tables -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> "Table":
        return Table(self, name)

    def table_names(self) -> list[str]:
        return [row[0] for row in self.execute(_catalog(self.dialect, columns=False)).fetchall()]

    def columns(self) -> dict[str, list[str]]:
        """table -> its column names, in one query."""
        out: dict[str, list[str]] = {}
        for table, column in self.execute(_catalog(self.dialect, columns=True)).fetchall():
            out.setdefault(table, []).append(column)
        return out

    def reset_ids(self) -> None:
        """After rows were written with their ids (a copy): PostgreSQL's id sequences continue after the largest."""
        if self.dialect != "postgresql":
            return  # SQLite's INTEGER PRIMARY KEY continues after the largest id by itself
        import sqlalchemy as sa

        from .schema import primary_key, tables

        for name in TABLES:
            if primary_key(name) == ("id",):
                table = tables()[name]
                largest = sa.select(sa.func.max(table.c.id)).scalar_subquery()
                self.execute(sa.select(sa.func.setval(sa.func.pg_get_serial_sequence(name, "id"),
                                                      sa.func.coalesce(largest, 0) + 1, sa.false())))

    def __repr__(self) -> str:
        return f"<Database {self.label}>"


class Transaction:
    """`with db.transaction():` — one transaction (nested ones join the outer)."""

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self):
        db = self.db
        if db._depth == 0:
            if db.dialect == "sqlite":
                db._dbapi.execute("BEGIN")
            else:
                try:
                    if db._dbapi.closed or db._dbapi.broken:
                        db.reconnect()
                    db._dbapi.autocommit = False
                except DatabaseError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    raise DatabaseError(f"results database {db.label}: cannot begin a write: "
                                        f"{_reason(exc, db)}") from None
        db._depth += 1
        return self

    def __exit__(self, kind, exc, tb):
        db = self.db
        db._depth -= 1
        if db._depth:
            return False
        try:
            if db.dialect == "sqlite":
                db._dbapi.execute("ROLLBACK" if kind else "COMMIT")
            else:
                (db._dbapi.rollback if kind else db._dbapi.commit)()
                db._dbapi.autocommit = True
        except Exception as error:  # noqa: BLE001
            if kind is None:
                raise DatabaseError(f"results database {db.label}: the write could not be committed: "
                                    f"{_reason(error, db)}") from None
        return False



class Table:
    """The sqlite-utils table calls the project uses, as SQLAlchemy Core statements over schema.tables()."""

    def __init__(self, db: Database, name: str):
        from .schema import primary_key, tables

        self.db, self.name = db, name
        self.table = tables()[name]
        self.pk = primary_key(name)
        self.last_pk = None

    @property
    def columns_dict(self) -> dict[str, type]:
        return {name: object for name in self.db.columns().get(self.name, [])}

    @property
    def count(self) -> int:
        import sqlalchemy as sa

        return self.db.scalar(sa.select(sa.func.count()).select_from(self.table))

    @property
    def rows(self):
        return self.rows_where()

    def exists(self) -> bool:
        return self.name in self.db.table_names()

    def _check(self, row: dict) -> None:
        known = TABLES.get(self.name)
        unknown = sorted(set(row) - set(known)) if known else []
        if unknown:
            raise DatabaseError(f"results database {self.db.label}: table {self.name} has no column "
                                f"{', '.join(unknown)}")

    def _keys(self, pk_value) -> list:
        keys = pk_value if isinstance(pk_value, (tuple, list)) else (pk_value,)
        return [self.table.c[column] == key for column, key in zip(self.pk, keys)]

    def insert(self, row: dict, *, pk=None, alter: bool = False, ignore: bool = False, replace: bool = False):
        """One row; `last_pk` is its id. `ignore`: a row whose key is taken is skipped; `replace`: overwrites it."""
        self._insert([row], ignore=ignore, replace=replace)
        return self

    def insert_all(self, rows, *, pk=None, alter: bool = False, ignore: bool = False, replace: bool = False,
                   batch_size: int | None = None):
        rows = list(rows)
        if rows:
            with self.db.transaction():
                self._insert(rows, ignore=ignore, replace=replace)
        return self

    def upsert(self, row: dict, *, pk=None, alter: bool = False):
        """Insert, or update the given columns of the row with the same primary key."""
        self._insert([row], update=True, conflict=tuple(pk) if isinstance(pk, (tuple, list)) else
                     ((pk,) if pk else self.pk))
        return self

    def upsert_all(self, rows, *, pk=None, alter: bool = False):
        with self.db.transaction():
            for row in rows:
                self.upsert(row, pk=pk)
        return self

    def _insert(self, rows: list[dict], *, ignore=False, replace=False, update=False, conflict=None) -> None:
        by_columns: dict[tuple, list[dict]] = {}
        for row in rows:
            self._check(row)
            by_columns.setdefault(tuple(row), []).append({column: _value(value) for column, value in row.items()})
        for columns, values in by_columns.items():
            statement = insert_statement(self.db.dialect, self.table, columns, conflict or self.pk,
                                         on_conflict="update" if replace or update else "nothing" if ignore else None)
            if self.pk == ("id",) and len(values) == 1:
                self.last_pk = self.db.scalar(statement.values(values[0]).returning(self.table.c.id))
            else:
                self.db.execute(statement.inline(), values, many=True)
                self.last_pk = None

    def update(self, pk_value, fields: dict, *, alter: bool = False):
        if not fields:
            return self
        import sqlalchemy as sa

        self._check(fields)
        values = {column: _value(value) for column, value in fields.items()}
        self.db.execute(sa.update(self.table).where(*self._keys(pk_value)).values(values))
        self.last_pk = pk_value
        return self

    def get(self, pk_value) -> dict:
        from .schema import every

        row = self.db.one(every(self.table).where(*self._keys(pk_value)))
        if row is None:
            raise NotFoundError(f"results database {self.db.label}: no {self.name} row {pk_value!r}")
        return row

    def rows_where(self, where=None, *, order_by=None, select=None, limit: int | None = None,
                   offset: int | None = None):
        """The rows (as dicts) that match `where`, a Core clause over `self.table`; `order_by`: columns or Core
        clauses; `select`: columns."""
        import sqlalchemy as sa

        from .schema import every

        if select in (None, "*"):
            statement = every(self.table)
        else:
            statement = sa.select(*(self.table.c[c] if isinstance(c, str) else c for c in select))
        if where is not None:
            statement = statement.where(where)
        if order_by is not None:
            order = order_by if isinstance(order_by, (list, tuple)) else [order_by]
            statement = statement.order_by(*(self.table.c[c] if isinstance(c, str) else c for c in order))
        if limit is not None:
            statement = statement.limit(int(limit))
        if offset is not None:
            statement = statement.offset(int(offset))
        return self.db.query(statement)

    def delete_where(self, where=None):
        """Delete the rows that match `where` (a Core clause over `self.table`; every row without one)."""
        import sqlalchemy as sa

        statement = sa.delete(self.table)
        self.db.execute(statement if where is None else statement.where(where))
        return self


def insert_statement(dialect: str, table, columns, keys, *, on_conflict: str | None = None):
    """INSERT INTO table (columns) in the dialect's own insert (SQLite's or PostgreSQL's, both of which know
    ON CONFLICT): `on_conflict` "update" sets the columns other than `keys` from the row that conflicted on
    `keys` (nothing when there are none: DO NOTHING), "nothing" skips a row whose key is taken."""
    from sqlalchemy.dialects import postgresql, sqlite

    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    rest = [column for column in columns if column not in keys]
    if on_conflict == "update" and rest:
        return statement.on_conflict_do_update(index_elements=list(keys),
                                               set_={column: statement.excluded[column] for column in rest})
    if on_conflict:
        return statement.on_conflict_do_nothing()
    return statement


def _catalog(dialect: str, *, columns: bool):
    """The DB's own catalog read as a Core select: (table, column) per column in order, or each table's name (SQLite's sqlite_master and pragma_table_info; PostgreSQL's information_schema)."""
    import sqlalchemy as sa

    if dialect == "sqlite":
        master = sa.table("sqlite_master", sa.column("name"), sa.column("type")).alias("m")
        if not columns:
            return sa.select(master.c.name).where(master.c.type == "table").order_by(master.c.name)
        info = sa.func.pragma_table_info(master.c.name).table_valued("name", "cid").alias("p")
        return (sa.select(master.c.name, info.c.name).select_from(master).join(info, sa.true())
                .where(master.c.type == "table").order_by(master.c.name, info.c.cid))
    schema = sa.func.current_schema()
    if not columns:
        found = sa.table("tables", sa.column("table_name"), sa.column("table_schema"), schema="information_schema")
        return sa.select(found.c.table_name).where(found.c.table_schema == schema).order_by(found.c.table_name)
    found = sa.table("columns", sa.column("table_name"), sa.column("column_name"), sa.column("table_schema"),
                     sa.column("ordinal_position"), schema="information_schema")
    return (sa.select(found.c.table_name, found.c.column_name).where(found.c.table_schema == schema)
            .order_by(found.c.table_name, found.c.ordinal_position))


def _transactional_sqlite(engine) -> None:
    """SQLAlchemy's documented pysqlite recipe: real transactions, DDL included (one commit per migration)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _is_driver_error(exc: Exception) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, sqlite3.OperationalError) and "no such" not in str(exc)
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.OperationalError)


def _reason(exc: Exception, db: Database | None = None) -> str:
    """The driver's message, one line, with any password in it replaced."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if db is not None and dburl.is_url(str(db.target)):
        from urllib.parse import urlsplit

        password = urlsplit(str(db.target)).password
        if password:
            text = text.replace(password, "***")
    return text
