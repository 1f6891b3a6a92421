"""The contamination audit's rows: the variant library (perturb.library) and each run's contamination scores.

Variants are written by `Store.add_variants`; these are the reads that decide whether a generator must
draw again, and what a perturbed suite is run on.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables
from .tables import VARIANT_KEY


def drawn(db, suite: str, generator: str, version: str, seed: int) -> list[dict]:
    """Per item content hash (`source_sha256`): the generator's accepted variants, the most candidates it was
    asked for (`asked`), and `error` 1 when it said it has none."""
    v = tables()["variants"]
    no_text = sa.case((v.c.text.is_(None), sa.literal_column("1")), else_=sa.literal_column("0"))
    return db.rows(sa.select(v.c.source_sha256, sa.func.sum(v.c.accepted).label("accepted"),
                             sa.func.max(v.c.draw_size).label("asked"), sa.func.max(no_text).label("error"))
                   .where(v.c.suite == suite, v.c.generator == generator, v.c.version == version, v.c.seed == seed)
                   .group_by(v.c.source_sha256))


def accepted(db, suite: str, source_sha256: str, generator: str, version: str, seed: int) -> list[dict]:
    """One generator's accepted variants of one item, in draw order."""
    v = tables()["variants"]
    return db.rows(every(v).where(v.c.suite == suite, v.c.source_sha256 == source_sha256,
                                  v.c.generator == generator, v.c.version == version, v.c.seed == seed,
                                  v.c.accepted == 1).order_by(v.c.idx))


def scores(db, run_id: int) -> dict[str, float | None]:
    """suite -> the run's contamination score (CS); empty for a run (or a DB) without an audit."""
    if "contamination" not in db.table_names():
        return {}
    c = tables()["contamination"]
    return {row["suite"]: row["cs"] for row in db.rows(sa.select(c.c.suite, c.c.cs).where(c.c.run_id == run_id))}


def replace_scores(db, run_id: int, scores: dict[str, tuple[dict, list[dict]]]) -> None:
    """Per suite, (its contamination row, its per-item rows) for a run, replacing what an earlier gating wrote,
    in one transaction."""
    items_table = tables()["contamination_items"]
    with db.transaction():
        for suite, (score, items) in scores.items():
            db["contamination"].upsert({"run_id": run_id, "suite": suite, **score}, pk=("run_id", "suite"))
            db.execute(sa.delete(items_table).where(items_table.c.run_id == run_id, items_table.c.suite == suite))
            db["contamination_items"].insert_all([{"run_id": run_id, "suite": suite, **item} for item in items])


def evidence_rows(db, run_id: int) -> list[dict]:
    """The `contamination_items` rows of a run, or of the shards merged into it when it is a run group's union
    (each shard scored its own items' evidence)."""
    c, runs = tables()["contamination_items"], tables()["runs"]
    shards = sa.select(runs.c.id).where(runs.c.group_run_id == run_id)
    own = db.rows(every(c).where(c.c.run_id == run_id))
    return own or db.rows(every(c).where(c.c.run_id.in_(shards)))


def library(db) -> list[dict]:
    """The whole variant library, in the order it was written."""
    v = tables()["variants"]
    return db.rows(every(v).order_by(v.c.id))


def library_id(db, row: dict) -> int:
    """The id of the library row with this row's key (VARIANT_KEY)."""
    v = tables()["variants"]
    return db.execute(sa.select(v.c.id).where(*(v.c[key] == row[key] for key in VARIANT_KEY))).fetchone()[0]
