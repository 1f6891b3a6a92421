"""Deleting old runs (`modeleval prune`): which runs may go, and their removal with every row that names them.

A run of a checkpoint that was ever promoted, or a run a promotion points at, never goes: it is a
baseline, past or present. Which of the others stay for governance's sake is the caller's decision.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import tables

CHILD_TABLES = ("outcomes", "suites", "gates", "judgments", "rejudgments", "refusals", "contamination",
                "contamination_items", "human_samples")


def _promoted():
    """The model hashes of the checkpoints ever promoted."""
    p = tables()["promotions"]
    return sa.select(p.c.model_hash)


def unpromoted_before(db, cutoff: str) -> list[dict]:
    """id, started_at and audit_config of the runs started before `cutoff` that no promotion keeps."""
    r, p = tables()["runs"], tables()["promotions"]
    return db.rows(sa.select(r.c.id, r.c.started_at, r.c.audit_config)
                   .where(r.c.started_at < cutoff, r.c.model_hash.not_in(_promoted()),
                          r.c.id.not_in(sa.select(sa.func.coalesce(p.c.run_id, -1))))
                   .order_by(r.c.id))


def promoted_before(db, cutoff: str) -> int:
    """How many runs started before `cutoff` are runs of a promoted checkpoint."""
    r = tables()["runs"]
    return db.scalar(sa.select(sa.func.count()).select_from(r)
                     .where(r.c.started_at < cutoff, r.c.model_hash.in_(_promoted())))


def delete_runs(db, run_ids: list[int]) -> dict[str, int]:
    """Delete the runs and their rows in one transaction, then reclaim the space; rows deleted per child table."""
    t = tables()
    with db.transaction():
        present = db.table_names()
        counts = {table: db.execute(sa.delete(t[table]).where(t[table].c.run_id.in_(run_ids))).rowcount
                  for table in CHILD_TABLES if table in present}
        queue = t["watch_queue"]
        db.execute(sa.update(queue).where(queue.c.run_id.in_(run_ids)).values(run_id=None))
        db.execute(sa.delete(t["runs"]).where(t["runs"].c.id.in_(run_ids)))
    db.execute(sa.text("VACUUM"))  # both dialects' own statement, outside the transaction
    return counts
