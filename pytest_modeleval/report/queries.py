"""The SQL behind the dashboard: read-only queries over the results DB, one function per table or view.

Each returns plain dicts (JSON-ready) so the site writer only arranges them. Aggregates run in the DB
(one pass over `outcomes` for every run and suite), never by loading item rows into Python, except
where a figure needs them (`judge_slots` reads the judgments' JSON lists).
"""

from __future__ import annotations

import json
import math

from . import ReportError

ANSWERED = ("correct", "wrong")
TOP_CONTAMINATED = 50  # items shown per run and suite on the contamination page
# A run group's shards are shown as their union run (pytest_modeleval.results.rungroup), not one by one.
SHOWN = "run_id NOT IN (SELECT id FROM runs WHERE group_run_id IS NOT NULL)"


def runs(db) -> list[dict]:
    """Every run, oldest first (by start time, then id): the dashboard's order of checkpoints."""
    rows = list(db.query("""
        SELECT id, started_at, ended_at, exit_status, model_ref, model_hash, model_kind, engine, git_commit,
               git_dirty, command, baseline_run_id, gate_status, gates_failed, overrides, judge_ref, judge_self,
               review_required, review_reason
        FROM runs WHERE group_run_id IS NULL ORDER BY started_at, id"""))
    if not rows:
        raise ReportError("the results database holds no runs: run pytest with --model first")
    for row in rows:
        row["overrides"] = _json(row["overrides"])
    return rows


def suite_stats(db) -> list[dict]:
    """Per run and suite: outcome counts, and the answered items' score sum and range (for the mean and its band)."""
    return list(db.query(f"""
        SELECT run_id, suite, COUNT(*) AS items,
               SUM(CASE WHEN outcome = 'correct' THEN 1 ELSE 0 END) AS correct, SUM(CASE WHEN outcome = 'wrong' THEN 1 ELSE 0 END) AS wrong,
               SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS errors, SUM(CASE WHEN outcome = 'skipped' THEN 1 ELSE 0 END) AS skipped,
               COUNT(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS scored,
               SUM(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_sum,
               MIN(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_min,
               MAX(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_max
        FROM outcomes WHERE {SHOWN} GROUP BY run_id, suite ORDER BY run_id, suite"""))


def score_mean(stats: dict) -> dict:
    """The suite's mean score with its 95% Wilson interval (scores in [0, 1]; as the summary table shows it)."""
    from ..stats import wilson

    n, total = stats["scored"] or 0, stats["score_sum"] or 0.0
    if not n:
        return {"value": None, "lo": None, "hi": None, "n": 0}
    value = total / n
    lo = hi = None
    if stats["score_min"] >= 0 and stats["score_max"] <= 1:
        lo, hi = wilson(min(max(total, 0.0), n), n)
    return {"value": value, "lo": lo, "hi": hi, "n": n}


def suites(db) -> list[dict]:
    """The `suites` rows: source, perturbations and the judge's figures per run."""
    return list(db.query(f"SELECT * FROM suites WHERE {SHOWN} ORDER BY run_id, suite"))


def promotions(db) -> list[dict]:
    """Every promotion, oldest first, with `current` set on each channel's newest row."""
    rows = list(db.query("SELECT * FROM promotions ORDER BY id"))
    newest = {row["channel"]: row["id"] for row in rows}
    for row in rows:
        row["current"] = newest[row["channel"]] == row["id"]
    return rows


def gates(db) -> list[dict]:
    """Every gate verdict, with the override (JSON) parsed; `missing` reduced to its counts."""
    rows = list(db.query(f"""
        SELECT run_id, suite, gate, metric, kind, verdict, n, value, ci_lo, ci_hi, baseline_run_id,
               baseline_value, delta, p_value, test, message, missing, override,
               p_adjusted, correction, family_size, detectable, needed_n, underpowered
        FROM gates WHERE {SHOWN} ORDER BY run_id, suite, gate"""))
    for row in rows:
        row["override"] = _json(row["override"])
        missing = _json(row["missing"])
        row["missing"] = None if not missing else {key: missing.get(key) for key in ("not_in_run", "not_in_baseline")}
    return rows


def judge_slots(db) -> dict[tuple[int, str], dict]:
    """(run, suite) -> position-bias counts from the judgments: verdicts by the candidate's slot.

    Each order judged counts once: the candidate shown first (slot A) or second (B), and whether
    that order's verdict was a win, tie or loss for it. A judge without position bias gives the
    candidate the same win rate in both slots.
    """
    out: dict[tuple[int, str], dict] = {}
    query = f"SELECT run_id, suite, candidate_slots, slot_verdicts, outcome FROM judgments WHERE kind = 'pairwise' " \
            f"AND {SHOWN}"
    for row in db.query(query):
        figures = out.setdefault((row["run_id"], row["suite"]), {
            "win": 0, "tie": 0, "loss": 0, "unread": 0,
            "A": {"n": 0, "win": 0, "tie": 0}, "B": {"n": 0, "win": 0, "tie": 0}, "picked_first": 0, "decisive": 0})
        if row["outcome"] in ("win", "tie", "loss"):
            figures[row["outcome"]] += 1
        else:
            figures["unread"] += 1
        for slot, verdict in zip(_json(row["candidate_slots"]) or [], _json(row["slot_verdicts"]) or []):
            if slot not in ("A", "B") or verdict not in ("A", "B", "tie"):
                continue
            figures[slot]["n"] += 1
            if verdict == "tie":
                figures[slot]["tie"] += 1
                continue
            figures[slot]["win"] += verdict == slot
            figures["decisive"] += 1
            figures["picked_first"] += verdict == "A"
    for figures in out.values():
        for slot in ("A", "B"):
            s = figures[slot]
            s["win_rate"] = (s["win"] + 0.5 * s["tie"]) / s["n"] if s["n"] else None
        figures["first_slot_rate"] = figures["picked_first"] / figures["decisive"] if figures["decisive"] else None
    return out


def refusals(db) -> list[dict]:
    """Refusal counts per run, suite, kind (harmful | benign) and category, with the rate's Wilson interval."""
    from ..stats import wilson

    rows = list(db.query(f"""
        SELECT run_id, suite, kind, COALESCE(category, '(none)') AS category, COUNT(*) AS items,
               COUNT(refused) AS n, COALESCE(SUM(refused), 0) AS refused, COUNT(*) - COUNT(refused) AS errors
        FROM refusals WHERE {SHOWN} GROUP BY run_id, suite, kind, category ORDER BY run_id, suite, kind, category"""))
    for row in rows:
        row["rate"] = row["refused"] / row["n"] if row["n"] else None
        row["lo"], row["hi"] = wilson(row["refused"], row["n"]) if row["n"] else (None, None)
    return rows


def contamination(db) -> list[dict]:
    """The contamination score of each run's perturbed suites (empty before any audit ran)."""
    return list(db.query(f"SELECT * FROM contamination WHERE {SHOWN} ORDER BY run_id, suite"))


def contamination_items(db, limit: int = TOP_CONTAMINATED) -> dict[tuple[int, str], dict]:
    """(run, suite) -> item count, flagged count and the `limit` items with the highest CS (flagged first)."""
    out: dict[tuple[int, str], dict] = {}
    for row in db.query("""SELECT run_id, suite, COUNT(*) AS items, COALESCE(SUM(flagged), 0) AS flagged
                           FROM contamination_items GROUP BY run_id, suite"""):
        out[(row["run_id"], row["suite"])] = {"items": row["items"], "flagged": row["flagged"], "top": []}
    rows = db.query("""
        SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY run_id, suite
                                                    ORDER BY flagged DESC, cs DESC, item_id) AS rank
                       FROM contamination_items) AS ranked WHERE rank <= ? ORDER BY run_id, suite, rank""", [limit])
    for row in rows:
        row.pop("rank")
        out[(row["run_id"], row["suite"])]["top"].append(row)
    return out


def item_rows(db, run_id: int):
    """A run's outcomes as tuples, grouped by suite and source item (variants -p0, -p1, ... together)."""
    return db.conn.execute("""
        SELECT suite, item_id, variant, outcome, score, test_id, prompt_hash, response, message, metrics, duration,
               variant_id
        FROM outcomes WHERE run_id = ? ORDER BY suite, item_id""", [run_id])


def prompts(db, run_id: int):
    """(suite, prompt_hash, prompt) of a run's outcomes that have a prompt."""
    return db.conn.execute("""SELECT suite, prompt_hash, prompt FROM outcomes
                              WHERE run_id = ? AND prompt IS NOT NULL""", [run_id])


def variants(db):
    """The variant library, kept and rejected candidates, in the order they were generated."""
    return db.conn.execute("""SELECT suite, source_id, id, generator, version, seed, idx, text, distance,
                                     accepted, reason FROM variants ORDER BY suite, source_id, id""")


def db_signature(path) -> tuple:
    """What changes when a run writes the DB (the file and its WAL): `--serve` rebuilds when it does."""
    from pathlib import Path

    out = []
    for candidate in (Path(path), Path(f"{path}-wal")):
        try:
            stat = candidate.stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def db_changes(db) -> tuple:
    """db_signature for a server's DB, which has no file to look at: what a run, a gate or a promotion adds."""
    return tuple(db.execute("""
        SELECT (SELECT COUNT(*) FROM runs), (SELECT MAX(ended_at) FROM runs), (SELECT COUNT(*) FROM outcomes),
               (SELECT COUNT(*) FROM gates), (SELECT COUNT(*) FROM promotions), (SELECT MAX(id) FROM promotions),
               (SELECT COUNT(*) FROM judgments), (SELECT COUNT(*) FROM contamination)""").fetchone())


def finite(value):
    """None for NaN / inf: JSON has no such numbers."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _json(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text}
