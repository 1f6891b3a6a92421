"""The runs of a results DB: finding one (by id, a model's newest, the newest of all), listing them, and
what a run's outcomes give the gates and the comparisons.

Each function takes the `Database` and plain values and returns rows as dicts; the callers name runs the
way their users do (`N`, `latest`, `sha256:<prefix>`) and word the errors. The queries are SQLAlchemy Core
statements over the tables of schema.py, compiled for the DB's dialect (SQLite or PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables

VALUE_COLUMNS = ("suite", "item_id", "outcome", "score", "metrics")  # what gates.evaluate.item_values reads


def run(db, run_id: int) -> dict | None:
    """The run's row, or None when there is no such run."""
    runs = tables()["runs"]
    return db.one(every(runs).where(runs.c.id == run_id))


def existing(db, run_ids) -> set[int]:
    """Those of `run_ids` the DB holds."""
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    runs = tables()["runs"]
    return {row["id"] for row in db.rows(sa.select(runs.c.id).where(runs.c.id.in_(run_ids)))}


def count(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(tables()["runs"]))


def newest_id(db, *, model_hash: str | None = None, besides: int | None = None) -> int | None:
    """The largest run id (of one model's runs; other than `besides`); None when there is none."""
    runs = tables()["runs"]
    statement = sa.select(sa.func.max(runs.c.id))
    if model_hash is not None:
        statement = statement.where(runs.c.model_hash == model_hash)
    if besides is not None:
        statement = statement.where(runs.c.id != besides)
    return db.scalar(statement)


def newest_of(db, model_hash: str) -> dict | None:
    """The model's newest run, finished or not."""
    runs = tables()["runs"]
    return db.one(every(runs).where(runs.c.model_hash == model_hash).order_by(runs.c.id.desc()).limit(1))


def newest_finished_id(db, model_hash: str, *, besides: int | None = None) -> int | None:
    """The id of the model's newest finished run other than `besides`."""
    runs = tables()["runs"]
    return db.scalar(sa.select(runs.c.id).where(runs.c.model_hash == model_hash, runs.c.ended_at.is_not(None),
                                                runs.c.id != (besides or -1)).order_by(runs.c.id.desc()).limit(1))


def model_hashes(db, prefix: str) -> list[str]:
    """The distinct model hashes of the runs that start with `prefix` (hex, no `sha256:`), sorted."""
    runs = tables()["runs"]
    return [row["model_hash"] for row in db.rows(
        sa.select(runs.c.model_hash).distinct().where(runs.c.model_hash.like(prefix + "%")).order_by(runs.c.model_hash))]


def listing(db, *, model_hash: str | None = None, last: int = 0) -> list[dict]:
    """`modeleval runs`: newest first, each with its suite count, answered items, mean score and errors."""
    r, o = tables()["runs"].alias("r"), tables()["outcomes"].alias("o")
    one: sa.ColumnElement = sa.literal_column("1")
    zero: sa.ColumnElement = sa.literal_column("0")
    answered, present = o.c.outcome.in_(("correct", "wrong")), o.c.outcome.is_not(None)
    statement = (
        sa.select(r.c.id, r.c.started_at, r.c.model_ref, r.c.model_hash, r.c.exit_status, r.c.gate_status,
                  r.c.gates_failed, sa.func.count(o.c.suite.distinct()).label("suites"),
                  sa.func.sum(sa.case((answered, one), (present, zero))).label("n"),
                  sa.func.avg(sa.case((answered, o.c.score))).label("score"),
                  sa.func.sum(sa.case((o.c.outcome == "error", one), (present, zero))).label("errors"))
        .select_from(r.outerjoin(o, o.c.run_id == r.c.id))
        .group_by(r.c.id).order_by(r.c.id.desc()))
    if model_hash is not None:
        statement = statement.where(r.c.model_hash == model_hash)
    if last:
        statement = statement.limit(int(last))
    return db.rows(statement)


def checkpoints(db) -> list[dict]:
    """Each checkpoint's newest finished run, in the order the checkpoints were first evaluated."""
    runs = tables()["runs"]
    r, s, f = runs.alias("r"), runs.alias("s"), runs.alias("f")
    newest = sa.select(sa.func.max(s.c.id)).where(s.c.model_hash == r.c.model_hash, s.c.ended_at.is_not(None))
    first = sa.select(sa.func.min(f.c.id)).where(f.c.model_hash == r.c.model_hash)
    return db.rows(every(r).where(r.c.id == newest.scalar_subquery()).order_by(first.scalar_subquery()))


def outcome_values(db, run_id: int, *, p_correct: bool = False) -> list[dict]:
    """The columns item values are read from of a run's outcomes; with `p_correct` where the DB has it (schema 6)."""
    outcomes = tables()["outcomes"]
    columns = list(VALUE_COLUMNS)
    if p_correct and "p_correct" in db.columns().get("outcomes", ()):
        columns.append("p_correct")
    return db.rows(sa.select(*(outcomes.c[c] for c in columns)).where(outcomes.c.run_id == run_id))


def responses(db, run_id: int, suite: str) -> dict[tuple, str]:
    """(item id, variant) -> the recorded answer, for the outcomes of one suite of a run that kept it."""
    o = tables()["outcomes"]
    rows = db.execute(sa.select(o.c.item_id, o.c.variant, o.c.response).where(
        o.c.run_id == run_id, o.c.suite == suite, o.c.response.is_not(None))).fetchall()
    return {(item_id, variant): response for item_id, variant, response in rows}


def logged_calls(db, run_id: int) -> list[dict]:
    """What each outcome of a run logged: its item, outcome, prompts and answers (`modeleval parity`)."""
    o = tables()["outcomes"]
    return db.rows(sa.select(o.c.suite, o.c.item_id, o.c.variant, o.c.outcome, o.c.prompt, o.c.response)
                   .where(o.c.run_id == run_id))


def holds_runs(db) -> bool:
    """Whether the DB has its runs table yet (a new or foreign file has not)."""
    return "runs" in db.table_names()


def suites(db, run_id: int) -> dict[str, dict]:
    """suite -> the run's suites row (its recorded parameters and figures)."""
    table = tables()["suites"]
    return {row["suite"]: row for row in db.rows(every(table).where(table.c.run_id == run_id))}


def newest(db) -> dict | None:
    """The newest run's row (the largest id), or None in a DB without runs."""
    runs = tables()["runs"]
    return db.one(every(runs).order_by(runs.c.id.desc()).limit(1))


def rows_of_run(db, table: str, run_id: int) -> list[dict]:
    """Every row of a run in one of its per-item tables (outcomes, judgments, refusals), in the order written."""
    t = tables()[table]
    return db.rows(every(t).where(t.c.run_id == run_id).order_by(t.c.id))


def previous_by_alias(db, model: str, alias: str, before: int) -> dict | None:
    """The newest run before `before` that found the registry model `model` by `alias` (id, mlflow_version): what
    the alias pointed at then, so a run can say that it moved."""
    runs = tables()["runs"]
    return db.one(sa.select(runs.c.id, runs.c.mlflow_version).where(
        runs.c.mlflow_model == model, runs.c.mlflow_alias == alias, runs.c.id < before,
    ).order_by(runs.c.id.desc()).limit(1))


def set_mlflow_run(db, run_id: int, mlflow_run: str) -> None:
    """The MLflow run a run's verdicts were written back to."""
    runs = tables()["runs"]
    db.execute(sa.update(runs).where(runs.c.id == run_id).values(mlflow_run=mlflow_run))
