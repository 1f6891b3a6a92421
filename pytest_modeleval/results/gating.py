"""Promotions and recorded gate verdicts: what a baseline is found from and what `modeleval promote` checks.

A channel's current checkpoint is its newest promotion; the `gates` rows are a run's verdicts (a run
gated again keeps only its new ones). The queries are SQLAlchemy Core statements (schema.py's tables).
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables


def latest_promotion(db, channel: str) -> dict | None:
    """The channel's newest promotion row; None before anything was promoted to it."""
    if "promotions" not in db.table_names():
        return None
    p = tables()["promotions"]
    return db.one(every(p).where(p.c.channel == channel).order_by(p.c.id.desc()).limit(1))


def promoted_run(db, channel: str) -> dict | None:
    """The channel's current checkpoint: model_hash, run_id and the model_ref its run recorded."""
    p, r = tables()["promotions"].alias("p"), tables()["runs"].alias("r")
    return db.one(sa.select(p.c.model_hash, p.c.run_id, r.c.model_ref).select_from(p.join(r, r.c.id == p.c.run_id))
                  .where(p.c.channel == channel).order_by(p.c.id.desc()).limit(1))


def promotions_of(db, run_id: int) -> list[dict]:
    """The promotions that point at this run, oldest first."""
    p = tables()["promotions"]
    return db.rows(every(p).where(p.c.run_id == run_id).order_by(p.c.id))


def channels_by_run(db) -> dict[int, list[str]]:
    """run id -> the channels whose current (newest) promotion is that run."""
    p, q = tables()["promotions"].alias("p"), tables()["promotions"].alias("q")
    newest = sa.select(sa.func.max(q.c.id)).where(q.c.channel == p.c.channel).scalar_subquery()
    marks: dict[int, list[str]] = {}
    for row in db.rows(sa.select(p.c.channel, p.c.run_id).where(p.c.id == newest)):
        marks.setdefault(row["run_id"], []).append(row["channel"])
    return marks


def channels_by_model(db) -> dict[str, list[str]]:
    """model hash -> every channel it was ever promoted to, by name."""
    p = tables()["promotions"]
    marks: dict[str, list[str]] = {}
    for row in db.rows(sa.select(p.c.model_hash, p.c.channel).distinct().order_by(p.c.channel)):
        marks.setdefault(row["model_hash"], []).append(row["channel"])
    return marks


def add_promotion(db, row: dict) -> int:
    """Record a promotion; its id."""
    return db["promotions"].insert(row).last_pk


def gates_of(db, run_id: int) -> list[dict]:
    """The run's recorded gate verdicts, by suite and gate."""
    g = tables()["gates"]
    return db.rows(every(g).where(g.c.run_id == run_id).order_by(g.c.suite, g.c.gate))


def failed_gates(db, run_id: int) -> list[dict]:
    """suite, gate and message of the run's failed gates, by suite and gate."""
    g = tables()["gates"]
    return db.rows(sa.select(g.c.suite, g.c.gate, g.c.message).where(g.c.run_id == run_id, g.c.verdict == "fail")
                   .order_by(g.c.suite, g.c.gate))


def replace_gates(db, run_id: int, rows: list[dict]) -> None:
    """The run's verdicts become `rows`: a run gated again (`modeleval gate`) keeps only its new ones."""
    g = tables()["gates"]
    with db.transaction():
        db.execute(sa.delete(g).where(g.c.run_id == run_id))
    if rows:
        db["gates"].insert_all(rows, pk=("run_id", "suite", "gate"))
