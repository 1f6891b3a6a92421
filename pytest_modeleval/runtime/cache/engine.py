"""One SQLAlchemy engine for a cache DB named by a path or a URL, set up per backend.

SQLite: WAL, a 60 s busy timeout, and write transactions that start with BEGIN IMMEDIATE so that
concurrent workers queue for the lock instead of failing half way. PostgreSQL (psycopg 3):
connections checked before use, so a connection the server dropped is replaced, not reused.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from ... import dburl


def create(target, what: str = "--eval-cache-db") -> sa.Engine:
    path = dburl.local_path(target, what)
    if path is not None:
        return _sqlite(path)
    return sa.create_engine(dburl.sqlalchemy_url(str(target), what), pool_pre_ping=True, pool_size=2,
                            max_overflow=4, hide_parameters=True, connect_args={"connect_timeout": 10})


def _sqlite(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", hide_parameters=True,
                              connect_args={"timeout": 60, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves (below)
        deadline = time.monotonic() + 60
        while True:  # workers opening a new file together: the WAL switch skips the busy timeout
            try:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
                return
            except Exception as exc:  # noqa: BLE001 - sqlite3.OperationalError
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate")
                             else "BEGIN")

    return engine
