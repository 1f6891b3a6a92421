"""Rows out of a results DB: a table's rows for `modeleval export`, and a whole history into another DB
(`modeleval db copy`, SQLite <-> PostgreSQL, ids kept).
"""

from __future__ import annotations

BATCH = 2000  # rows per INSERT batch of a copy


class CopyError(ValueError):
    """A copy refused (the target holds runs) or found incomplete; the message names both DBs."""


def table_rows(db, table: str, run_ids: list[int] | None) -> list[dict]:
    """A table's rows for the chosen runs (promotions: those pointing at them; None: every run), in id or run order."""
    column = "id" if table == "runs" else "run_id"
    where, params = "", []
    if run_ids is not None:
        where = f"WHERE {column} IN ({', '.join('?' * len(run_ids))})"
        params = run_ids
    order = "id" if table in ("runs", "outcomes", "promotions") else "run_id"
    return [dict(row) for row in db.query(f"SELECT * FROM {table} {where} ORDER BY {order}", params)]


def copy_history(source, target) -> dict[str, int]:
    """Every table of tables.TABLES from one Database into another (one without runs); rows per table."""
    from .runs import count
    from .tables import TABLES

    held = count(target)
    if held:
        raise CopyError(f"results database {target.label} already holds {held} runs: copy into a new or empty "
                        f"database (a copy never merges two histories)")
    present = source.columns()
    counts = {}
    with target.conn:
        for table, spec in TABLES.items():  # runs first: every other table names a run
            columns = [c for c in spec if c in present.get(table, ())]
            if not columns:
                counts[table] = 0
                continue
            quoted = ", ".join(f'"{c}"' for c in columns)
            cursor = source.execute(f"SELECT {quoted} FROM {table}")
            insert = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})"
            n = 0
            while rows := cursor.fetchmany(BATCH):
                target.executemany(insert, rows)
                n += len(rows)
            counts[table] = n
        target.reset_ids()
    for table, n in counts.items():
        found = target[table].count
        if found != n:
            raise CopyError(f"{table}: {n} rows read from {source.label} but {found} in {target.label}")
    return counts
