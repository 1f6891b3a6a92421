"""Helpers for the prediction-cache tests that run on both backends: a `cache_target` fixture body
(a SQLite file or a fresh PostgreSQL database) and queries that read either through a fresh
connection of their own (never the cache's code)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from evalkit import query

BACKENDS = ("sqlite", "postgresql")


def make_target(request, tmp_path: Path):
    """For a fixture parametrized over BACKENDS: a path for SQLite, a database URL for PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "cache.sqlite"
    return request.getfixturevalue("postgres_url")


def is_server(target) -> bool:
    return "://" in str(target)


def cache_query(target, sql: str, **params) -> list[dict]:
    """Rows as dicts; `:name` parameters on both backends."""
    if not is_server(target):
        if not Path(target).exists():
            return []
        return query(Path(target), sql) if not params else _sa_query(f"sqlite:///{target}", sql, params)
    return _sa_query(str(target).replace("postgresql://", "postgresql+psycopg://", 1), sql, params)


def _sa_query(url: str, sql: str, params: dict) -> list[dict]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def count(target, where: str = "1=1") -> int:
    if not is_server(target) and not Path(target).exists():
        return 0
    return cache_query(target, f"SELECT COUNT(*) AS n FROM predictions WHERE {where}")[0]["n"]


def pytester_args(target) -> tuple[str, ...]:
    """Command-line arguments pointing a pytester run at the target (SQLite: the default file)."""
    return ("--eval-cache-db", str(target)) if is_server(target) else ()
