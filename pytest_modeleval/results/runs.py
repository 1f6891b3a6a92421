"""The runs of a results DB: finding one (by id, a model's newest, the newest of all), listing them, and
what a run's outcomes give the gates and the comparisons.

Each function takes the `Database` (or anything with its `query`) and plain values and returns rows as
dicts; the callers name runs the way their users do (`N`, `latest`, `sha256:<prefix>`) and word the errors.
"""

from __future__ import annotations

VALUE_COLUMNS = "suite, item_id, outcome, score, metrics"  # what gates.evaluate.item_values reads of an outcome


def run(db, run_id: int) -> dict | None:
    """The run's row, or None when there is no such run."""
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    return rows[0] if rows else None


def existing(db, run_ids) -> set[int]:
    """Those of `run_ids` the DB holds."""
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    marks = ", ".join("?" * len(run_ids))
    return {row["id"] for row in db.query(f"SELECT id FROM runs WHERE id IN ({marks})", run_ids)}


def count(db) -> int:
    return next(db.query("SELECT COUNT(*) AS n FROM runs"))["n"]


def newest_id(db, *, model_hash: str | None = None, besides: int | None = None) -> int | None:
    """The largest run id (of one model's runs; other than `besides`); None when there is none."""
    where, params = [], []
    if model_hash is not None:
        where.append("model_hash = ?")
        params.append(model_hash)
    if besides is not None:
        where.append("id != ?")
        params.append(besides)
    sql = "SELECT MAX(id) AS id FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
    return next(db.query(sql, params))["id"]


def newest_of(db, model_hash: str) -> dict | None:
    """The model's newest run, finished or not."""
    rows = list(db.query("SELECT * FROM runs WHERE model_hash = ? ORDER BY id DESC LIMIT 1", [model_hash]))
    return rows[0] if rows else None


def newest_finished_id(db, model_hash: str, *, besides: int | None = None) -> int | None:
    """The id of the model's newest finished run other than `besides`."""
    rows = list(db.query("SELECT id FROM runs WHERE model_hash = ? AND ended_at IS NOT NULL AND id != ? "
                         "ORDER BY id DESC LIMIT 1", [model_hash, besides or -1]))
    return rows[0]["id"] if rows else None


def model_hashes(db, prefix: str) -> list[str]:
    """The distinct model hashes of the runs that start with `prefix` (hex, no `sha256:`), sorted."""
    return [row["model_hash"] for row in db.query(
        "SELECT DISTINCT model_hash FROM runs WHERE model_hash LIKE ? ORDER BY model_hash", [prefix + "%"])]


def listing(db, *, model_hash: str | None = None, last: int = 0) -> list[dict]:
    """`modeleval runs`: newest first, each with its suite count, answered items, mean score and errors."""
    where, params = "", []
    if model_hash is not None:
        where, params = "WHERE r.model_hash = ?", [model_hash]
    limit = f"LIMIT {int(last)}" if last else ""
    return list(db.query(f"""
        SELECT r.id, r.started_at, r.model_ref, r.model_hash, r.exit_status, r.gate_status, r.gates_failed,
               COUNT(DISTINCT o.suite) AS suites,
               SUM(CASE WHEN o.outcome IN ('correct', 'wrong') THEN 1 WHEN o.outcome IS NOT NULL THEN 0 END) AS n,
               AVG(CASE WHEN o.outcome IN ('correct', 'wrong') THEN o.score END) AS score,
               SUM(CASE WHEN o.outcome = 'error' THEN 1 WHEN o.outcome IS NOT NULL THEN 0 END) AS errors
        FROM runs AS r LEFT JOIN outcomes AS o ON o.run_id = r.id {where}
        GROUP BY r.id ORDER BY r.id DESC {limit}""", params))


def checkpoints(db) -> list[dict]:
    """Each checkpoint's newest finished run, in the order the checkpoints were first evaluated."""
    return list(db.query("""
        SELECT r.* FROM runs AS r
        WHERE r.id = (SELECT MAX(id) FROM runs AS s WHERE s.model_hash = r.model_hash AND s.ended_at IS NOT NULL)
        ORDER BY (SELECT MIN(id) FROM runs AS f WHERE f.model_hash = r.model_hash)"""))


def outcome_values(db, run_id: int, *, p_correct: bool = False) -> list[dict]:
    """The columns item values are read from of a run's outcomes; with `p_correct` where the DB has it (schema 6)."""
    columns = VALUE_COLUMNS
    if p_correct and "p_correct" in db["outcomes"].columns_dict:
        columns += ", p_correct"
    return list(db.query(f"SELECT {columns} FROM outcomes WHERE run_id = ?", [run_id]))


def responses(db, run_id: int, suite: str) -> dict[tuple, str]:
    """(item id, variant) -> the recorded answer, for the outcomes of one suite of a run that kept it."""
    rows = db.execute("SELECT item_id, variant, response FROM outcomes WHERE run_id = ? AND suite = ? "
                      "AND response IS NOT NULL", [run_id, suite]).fetchall()
    return {(item_id, variant): response for item_id, variant, response in rows}


def logged_calls(db, run_id: int) -> list[dict]:
    """What each outcome of a run logged: its item, outcome, prompts and answers (`modeleval parity`)."""
    return list(db.query("SELECT suite, item_id, variant, outcome, prompt, response FROM outcomes WHERE run_id = ?",
                         [run_id]))


def holds_runs(db) -> bool:
    """Whether the DB has its runs table yet (a new or foreign file has not)."""
    return "runs" in db.table_names()


def suites(db, run_id: int) -> dict[str, dict]:
    """suite -> the run's suites row (its recorded parameters and figures)."""
    return {row["suite"]: row for row in db.query("SELECT * FROM suites WHERE run_id = ?", [run_id])}


def newest(db) -> dict | None:
    """The newest run's row (the largest id), or None in a DB without runs."""
    rows = list(db["runs"].rows_where(order_by="id DESC", limit=1))
    return rows[0] if rows else None


def rows_of_run(db, table: str, run_id: int) -> list[dict]:
    """Every row of a run in one of its per-item tables (outcomes, judgments, refusals), in the order written."""
    return list(db[table].rows_where("run_id = ?", [run_id], order_by="id"))
