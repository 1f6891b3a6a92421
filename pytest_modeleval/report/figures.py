"""The dashboard's figures from the rows results.dashboard reads: JSON columns parsed, means and rates with
their intervals, the judge's position bias, the most contaminated items.

Plain dicts (JSON-ready) come out, so the site writer only arranges them.
"""

from __future__ import annotations

import json
import math

from ..results import dashboard
from . import ReportError

TOP_CONTAMINATED = 50  # items shown per run and suite on the contamination page


def runs(db) -> list[dict]:
    """Every run, oldest first (by start time, then id): the dashboard's order of checkpoints."""
    rows = dashboard.runs(db)
    if not rows:
        raise ReportError("the results database holds no runs: run pytest with --model first")
    for row in rows:
        row["overrides"] = _json(row["overrides"])
    return rows


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


def promotions(db) -> list[dict]:
    """Every promotion, oldest first, with `current` set on each channel's newest row."""
    rows = dashboard.promotions(db)
    newest = {row["channel"]: row["id"] for row in rows}
    for row in rows:
        row["current"] = newest[row["channel"]] == row["id"]
    return rows


def gates(db) -> list[dict]:
    """Every gate verdict, with the override (JSON) parsed; `missing` reduced to its counts."""
    rows = dashboard.gates(db)
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
    for row in dashboard.pairwise_verdicts(db):
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

    rows = dashboard.refusal_counts(db)
    for row in rows:
        row["rate"] = row["refused"] / row["n"] if row["n"] else None
        row["lo"], row["hi"] = wilson(row["refused"], row["n"]) if row["n"] else (None, None)
    return rows


def contamination_items(db, limit: int = TOP_CONTAMINATED) -> dict[tuple[int, str], dict]:
    """(run, suite) -> item count, flagged count and the `limit` items with the highest CS (flagged first)."""
    out: dict[tuple[int, str], dict] = {}
    for row in dashboard.contamination_counts(db):
        out[(row["run_id"], row["suite"])] = {"items": row["items"], "flagged": row["flagged"], "top": []}
    rows = dashboard.top_contaminated(db, limit)
    for row in rows:
        row.pop("rank")
        out[(row["run_id"], row["suite"])]["top"].append(row)
    return out


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
