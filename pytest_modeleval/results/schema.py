"""The results DB's tables as SQLAlchemy Core objects, built from the column dicts in `tables`.

`tables.py` is the one place a column is declared: this module only adds what a dict cannot say
(primary keys, foreign keys, indexes) and maps the Python types to SQL ones, so the same tables are
created on SQLite and on PostgreSQL (by the Alembic migrations in results/migrations/).
"""

from __future__ import annotations

import functools

import sqlalchemy as sa

from .tables import TABLES, VARIANT_KEY

VERSION_TABLE = "modeleval_results_version"  # Alembic's table (the cache has its own)
SCHEMA_TABLE = "modeleval_schema"  # one row: SCHEMA_VERSION (tables.py) that last wrote the DB
TYPES = {int: sa.Integer, str: sa.Text, float: sa.Float}

# table -> (primary key, has a foreign key to runs, indexes as (columns, unique))
LAYOUT = {
    "runs": (("id",), False, ()),
    "suites": (("run_id", "suite"), True, ()),
    "outcomes": (("id",), True, ((("run_id", "test_id"), True), (("run_id", "suite"), False))),
    "gates": (("run_id", "suite", "gate"), True, ()),
    "promotions": (("id",), False, ((("channel", "id"), False),)),
    "watch_queue": (("id",), False, ((("model_hash",), True),)),
    "judgments": (("id",), True, ((("run_id", "test_id"), True),)),
    "rejudgments": (("id",), True, ((("run_id", "test_id", "judge_hash", "template_sha256"), True),)),
    "judge_validations": (("id",), False, ((("judge_hash", "template_sha256", "id"), False),)),
    "human_samples": (("sample_id",), True, ()),
    "human_labels": (("id",), False, ((("sample_id",), False),)),
    "refusals": (("id",), True, ((("run_id", "test_id"), True),)),
    "classifier_validations": (("id",), False, ()),
    "variants": (("id",), False, ()),  # its unique key is VARIANT_KEY, added below
    "contamination": (("run_id", "suite"), True, ()),
    "contamination_items": (("run_id", "suite", "item_id"), True, ()),
    "run_groups": (("model_hash", "run_group"), False, ()),
}


@functools.lru_cache(maxsize=1)
def tables() -> dict[str, sa.Table]:
    """The results DB's tables, built once: what the named reads and writes of results/ select from."""
    return dict(metadata().tables)


def every(table) -> sa.Select:
    """SELECT * FROM the table: every column the DB holds, also in a DB from before a column was added (a
    read-only DB is read as it is, its schema not brought up to date)."""
    return sa.select(sa.literal_column("*")).select_from(table)


def primary_key(table: str) -> tuple[str, ...]:
    return LAYOUT[table][0] if table in LAYOUT else ("id",)


def metadata() -> sa.MetaData:
    """Every table of the results DB (index names as sqlite-utils gave them, so an old DB matches)."""

    meta = sa.MetaData()
    for name, columns in TABLES.items():
        pk, to_runs, indexes = LAYOUT.get(name, (("id",), False, ()))
        if name == "variants":
            indexes = ((tuple(VARIANT_KEY), True),)
        cols: list[sa.Column] = []
        for column, kind in columns.items():
            args = [sa.ForeignKey("runs.id")] if to_runs and column == "run_id" else []
            cols.append(sa.Column(column, TYPES[kind], *args, primary_key=column in pk,
                                  autoincrement=pk == ("id",) and column == "id"))
        table = sa.Table(name, meta, *cols)
        for index_columns, unique in indexes:
            sa.Index(f"idx_{name}_{'_'.join(index_columns)}", *(table.c[c] for c in index_columns), unique=unique)
    sa.Table(SCHEMA_TABLE, meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("version", sa.Integer, nullable=False))
    return meta
