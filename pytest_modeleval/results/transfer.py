"""Rows out of a results DB: a table's rows for `modeleval export`, and a whole history into another DB
(`modeleval db copy`, SQLite <-> PostgreSQL, ids kept).
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables

BATCH = 2000  # rows per INSERT batch of a copy


class CopyError(ValueError):
    """A copy refused (the target holds runs) or found incomplete; the message names both DBs."""


def table_rows(db, table: str, run_ids: list[int] | None) -> list[dict]:
    """A table's rows for the chosen runs (promotions: those pointing at them; None: every run), in id or run order."""
    t = tables()[table]
    statement = every(t)
    if run_ids is not None:
        statement = statement.where(t.c["id" if table == "runs" else "run_id"].in_(run_ids))
    return db.rows(statement.order_by(t.c["id" if table in ("runs", "outcomes", "promotions") else "run_id"]))


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
    with target.transaction():
        for table, spec in TABLES.items():  # runs first: every other table names a run
            columns = [c for c in spec if c in present.get(table, ())]
            if not columns:
                counts[table] = 0
                continue
            t = tables()[table]
            cursor = source.execute(sa.select(*(t.c[c] for c in columns)))
            n = 0
            while rows := cursor.fetchmany(BATCH):
                target.execute(sa.insert(t).inline(), [dict(zip(columns, row)) for row in rows], many=True)
                n += len(rows)
            counts[table] = n
        target.reset_ids()
    for table, n in counts.items():
        found = target[table].count
        if found != n:
            raise CopyError(f"{table}: {n} rows read from {source.label} but {found} in {target.label}")
    return counts
