"""Deleting old runs (`modeleval prune`): which runs may go, and their removal with every row that names them.

A run of a checkpoint that was ever promoted, or a run a promotion points at, never goes: it is a
baseline, past or present. Which of the others stay for governance's sake is the caller's decision.
"""

from __future__ import annotations

CHILD_TABLES = ("outcomes", "suites", "gates", "judgments", "rejudgments", "refusals", "contamination",
                "contamination_items", "human_samples")


def unpromoted_before(db, cutoff: str) -> list[dict]:
    """id, started_at and audit_config of the runs started before `cutoff` that no promotion keeps."""
    return list(db.query(
        "SELECT id, started_at, audit_config FROM runs WHERE started_at < ? AND model_hash NOT IN "
        "(SELECT model_hash FROM promotions) AND id NOT IN (SELECT COALESCE(run_id, -1) FROM promotions) "
        "ORDER BY id", [cutoff]))


def promoted_before(db, cutoff: str) -> int:
    """How many runs started before `cutoff` are runs of a promoted checkpoint."""
    return next(db.query("SELECT COUNT(*) AS n FROM runs WHERE started_at < ? AND model_hash IN "
                         "(SELECT model_hash FROM promotions)", [cutoff]))["n"]


def delete_runs(db, run_ids: list[int]) -> dict[str, int]:
    """Delete the runs and their rows in one transaction, then reclaim the space; rows deleted per child table."""
    marks = ", ".join("?" * len(run_ids))
    with db.conn:
        counts = {table: db.conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids).rowcount
                  for table in CHILD_TABLES if table in db.table_names()}
        db.conn.execute(f"UPDATE watch_queue SET run_id = NULL WHERE run_id IN ({marks})", run_ids)
        db.conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", run_ids)
    db.execute("VACUUM")
    return counts
