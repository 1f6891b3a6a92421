"""Promotions and recorded gate verdicts: what a baseline is found from and what `modeleval promote` checks.

A channel's current checkpoint is its newest promotion; the `gates` rows are a run's verdicts (a run
gated again keeps only its new ones).
"""

from __future__ import annotations


def latest_promotion(db, channel: str) -> dict | None:
    """The channel's newest promotion row; None before anything was promoted to it."""
    if "promotions" not in db.table_names():
        return None
    rows = list(db.query("SELECT * FROM promotions WHERE channel = ? ORDER BY id DESC LIMIT 1", [channel]))
    return rows[0] if rows else None


def promoted_run(db, channel: str) -> dict | None:
    """The channel's current checkpoint: model_hash, run_id and the model_ref its run recorded."""
    rows = list(db.query("SELECT p.model_hash, p.run_id, r.model_ref FROM promotions p JOIN runs r "
                         "ON r.id = p.run_id WHERE p.channel = ? ORDER BY p.id DESC LIMIT 1", [channel]))
    return rows[0] if rows else None


def promotions_of(db, run_id: int) -> list[dict]:
    """The promotions that point at this run, oldest first."""
    return list(db.query("SELECT * FROM promotions WHERE run_id = ? ORDER BY id", [run_id]))


def channels_by_run(db) -> dict[int, list[str]]:
    """run id -> the channels whose current (newest) promotion is that run."""
    rows = db.query("SELECT p.channel, p.run_id FROM promotions AS p WHERE p.id = "
                    "(SELECT MAX(id) FROM promotions AS q WHERE q.channel = p.channel)")
    marks: dict[int, list[str]] = {}
    for row in rows:
        marks.setdefault(row["run_id"], []).append(row["channel"])
    return marks


def channels_by_model(db) -> dict[str, list[str]]:
    """model hash -> every channel it was ever promoted to, by name."""
    marks: dict[str, list[str]] = {}
    for row in db.query("SELECT DISTINCT model_hash, channel FROM promotions ORDER BY channel"):
        marks.setdefault(row["model_hash"], []).append(row["channel"])
    return marks


def add_promotion(db, row: dict) -> int:
    """Record a promotion; its id."""
    return db["promotions"].insert(row).last_pk


def gates_of(db, run_id: int) -> list[dict]:
    """The run's recorded gate verdicts, by suite and gate."""
    return list(db.query("SELECT * FROM gates WHERE run_id = ? ORDER BY suite, gate", [run_id]))


def failed_gates(db, run_id: int) -> list[dict]:
    """suite, gate and message of the run's failed gates, by suite and gate."""
    return list(db.query("SELECT suite, gate, message FROM gates WHERE run_id = ? AND verdict = 'fail' "
                         "ORDER BY suite, gate", [run_id]))


def replace_gates(db, run_id: int, rows: list[dict]) -> None:
    """The run's verdicts become `rows`: a run gated again (`modeleval gate`) keeps only its new ones."""
    with db.conn:
        db.conn.execute("DELETE FROM gates WHERE run_id = ?", [run_id])
    if rows:
        db["gates"].insert_all(rows, pk=("run_id", "suite", "gate"))
