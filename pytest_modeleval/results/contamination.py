"""The contamination audit's rows: the variant library (perturb.library) and each run's contamination scores.

Variants are written by `Store.add_variants`; these are the reads that decide whether a generator must
draw again, and what a perturbed suite is run on.
"""

from __future__ import annotations


def drawn(db, suite: str, generator: str, version: str, seed: int) -> list[dict]:
    """Per item content hash (`source_sha256`): the generator's accepted variants, the most candidates it was
    asked for (`asked`), and `error` 1 when it said it has none."""
    return list(db.query(
        "SELECT source_sha256, sum(accepted) AS accepted, max(draw_size) AS asked, "
        "max(CASE WHEN text IS NULL THEN 1 ELSE 0 END) AS error "
        "FROM variants WHERE suite = ? AND generator = ? AND version = ? AND seed = ? GROUP BY source_sha256",
        [suite, generator, version, seed]))


def accepted(db, suite: str, source_sha256: str, generator: str, version: str, seed: int) -> list[dict]:
    """One generator's accepted variants of one item, in draw order."""
    return list(db.query(
        "SELECT * FROM variants WHERE suite = ? AND source_sha256 = ? AND generator = ? AND version = ? "
        "AND seed = ? AND accepted = 1 ORDER BY idx", [suite, source_sha256, generator, version, seed]))


def scores(db, run_id: int) -> dict[str, float | None]:
    """suite -> the run's contamination score (CS); empty for a run (or a DB) without an audit."""
    if "contamination" not in db.table_names():
        return {}
    return {row["suite"]: row["cs"] for row in db.query("SELECT suite, cs FROM contamination WHERE run_id = ?",
                                                         [run_id])}


def replace_scores(db, run_id: int, scores: dict[str, tuple[dict, list[dict]]]) -> None:
    """Per suite, (its contamination row, its per-item rows) for a run, replacing what an earlier gating wrote,
    in one transaction."""
    with db.transaction():
        for suite, (score, items) in scores.items():
            db["contamination"].upsert({"run_id": run_id, "suite": suite, **score}, pk=("run_id", "suite"))
            db.execute("DELETE FROM contamination_items WHERE run_id = ? AND suite = ?", [run_id, suite])
            db["contamination_items"].insert_all([{"run_id": run_id, "suite": suite, **item} for item in items])


def library(db) -> list[dict]:
    """The whole variant library, in the order it was written."""
    return list(db["variants"].rows_where(order_by="id"))


def library_id(db, row: dict) -> int:
    """The id of the library row with this row's key (VARIANT_KEY)."""
    from .tables import VARIANT_KEY

    where = " AND ".join(f"{key} = ?" for key in VARIANT_KEY)
    return db.execute(f"SELECT id FROM variants WHERE {where}", [row[key] for key in VARIANT_KEY]).fetchone()[0]
