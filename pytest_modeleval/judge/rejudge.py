"""Judge-consistent baselines: a judged suite is compared with its baseline only under one judge.

When the baseline run's judgments of a suite were made by another judge (another model hash, or
the same model with another prompt template), comparing the two runs' judge metrics would measure
the judges, not the checkpoints. So the planner re-judges the baseline's stored answers (the
question, candidate and reference its `judgments` rows keep) with this run's judge, in the same
batched rounds as this run's own judging and through the prediction cache, so it is paid once per
judge. The verdicts are recorded against the baseline run (the `rejudgments` table) and the gates
compare the two runs under this run's judge.

A re-judgment recomputes the metrics the verdict alone makes: `win_rate` (pairwise), `judge_rating`
and `score` (graded). A metric the test's own assertion makes from the verdict (`accuracy`, a pairwise
suite's `score`) cannot be recomputed for the baseline, and neither can anything when the baseline's
answers are not stored: such regression gates are `n/a`, with a message naming both judges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

RECOMPUTED = {"pairwise": ("win_rate",), "rating": ("judge_rating", "score")}  # kind -> metrics a verdict makes


def to_rejudge(ctx, item, kind: str, template) -> dict | None:
    """The baseline's stored judgment of this item when another judge (or template) made it, else None."""
    row = ctx.baseline_judgment(ctx.suite, item, kind)
    if row is None or row["kind"] != kind or row["candidate"] is None:
        return None
    if (row["judge_hash"], row["template_sha256"]) == (ctx.judge_hash, template.sha256):
        return None  # the same judge: the baseline's own verdict is comparable as it is
    if kind == "pairwise" and row["reference"] is None:
        return None
    return row


class BaselineAnswers:
    """The baseline run's judgments per suite and item, read from the results DB (read-only) on first need.

    Works in every process (pytest-xdist workers too): the baseline is found from --baseline as
    the gates find it. Only suites with a regression rule on a metric a verdict recomputes are
    looked up, so a re-judgment is never paid for a comparison no gate makes.
    """

    def __init__(self, db, spec: str | None, rules=None):
        self.db = db  # a SQLite path or a server's URL: results.db.reading tells whether it holds the tables
        self.spec = spec
        self.rules = rules  # gates.rules.GateConfig, or None (gates off: nothing to compare)
        self._run_id: int | None | bool = False  # False: not looked up yet
        self._by_suite: dict[str, dict] = {}

    def __call__(self, suite: str, item, kind: str) -> dict | None:
        if not self.wanted(suite, kind) or self.run_id is None:
            return None
        if suite not in self._by_suite:
            self._by_suite[suite] = self._load(suite)
        return self._by_suite[suite].get((item.id, item.variant))

    def wanted(self, suite: str, kind: str) -> bool:
        if self.rules is None:
            return False
        return any(rule.kind == "regression" and rule.metric in RECOMPUTED.get(kind, ())
                   for rule in self.rules.rules_for(suite))

    @property
    def run_id(self) -> int | None:
        if self._run_id is False:
            self._run_id = self._find()
        return self._run_id

    def _find(self) -> int | None:
        from ..gates.baseline import BaselineError, find
        from ..results.db import reading

        try:
            with reading(self.db, tables=("runs", "judgments")) as db:
                if db is None:
                    return None
                baseline, _ = find(db, self.spec, None)
        except (BaselineError, ValueError):  # the controller reports a bad --baseline as a usage error
            return None
        return baseline.run_id if baseline is not None else None

    def _load(self, suite: str) -> dict:
        from ..results.db import reading
        from ..results.judging import stored_judgments

        with reading(self.db, tables=()) as db:
            rows = stored_judgments(db, self.run_id, suite)
        return {(row["item_id"], row["variant"]): row for row in rows}


def baseline_record(judgment, row: dict) -> dict:
    """The re-judgment as the `rejudgments` table keeps it: the baseline's item, this run's judge's verdict."""
    return {**judgment.record(), "run_id": row["run_id"], "suite": row["suite"], "test_id": row["test_id"],
            "item_id": row["item_id"], "variant": row["variant"]}


# --- the gates' side ------------------------------------------------------------------------------

@dataclass
class Comparison:
    """How one judged suite is compared with the baseline: under which judge, and whether it can be."""

    suite: str
    kind: str
    judges: set  # this run's (judge hash, template hash) pairs
    baseline_judges: set  # the baseline run's
    rejudged: dict = field(default_factory=dict)  # item_id -> re-judgment row under this run's judge

    @property
    def consistent(self) -> bool:
        return self.judges == self.baseline_judges

    def describe(self, baseline_run_id: int) -> str:
        now = _names(self.judges)
        if self.consistent:
            return f"both runs judged by {now}"
        was = _names(self.baseline_judges) if self.baseline_judges else "no recorded judge"
        if self.rejudged:
            return (f"compared under this run's judge {now}: baseline run {baseline_run_id}'s stored answers "
                    f"re-judged ({len(self.rejudged)} items; its own judge was {was})")
        return f"baseline run {baseline_run_id} was judged by {was}, this run by {now}"


def judge_consistent(db, baseline, current: dict[str, set], kinds: dict[str, str]):
    """(baseline, comparisons): the baseline with its judged suites' verdict metrics re-read under this
    run's judge where it was re-judged, and per judged suite how it is compared.

    `db`: the results Database; `current`: suite -> this run's (judge, template) pairs; `kinds`:
    suite -> "pairwise" | "rating".
    """
    if baseline is None or not current:
        return baseline, {}
    from ..results.judging import judges_by_suite

    before = judges_by_suite(db, baseline.run_id)
    compared = {row["suite"] for row in baseline.rows}  # a suite new since the baseline has nothing to compare
    comparisons = {}
    for suite, pairs in current.items():
        if suite not in compared:
            continue
        comparison = Comparison(suite, kinds.get(suite, "pairwise"), set(pairs), before.get(suite, set()))
        if not comparison.consistent:
            comparison.rejudged = _rejudged(db, baseline.run_id, suite, pairs)
        comparisons[suite] = comparison
    changed = {s: c for s, c in comparisons.items() if not c.consistent}
    if not changed:
        return baseline, comparisons
    rows = [_reread(row, changed.get(row["suite"])) for row in baseline.rows]
    return dataclasses.replace(baseline, rows=rows), comparisons


def annotate(results, comparisons: dict, baseline) -> None:
    """Say under which judge each judged suite's regression gate compared; n/a where no one judge can."""
    for result in results:
        comparison = comparisons.get(result.suite)
        if comparison is None or result.rule.kind != "regression" or baseline is None:
            continue
        where = comparison.describe(baseline.run_id)
        if comparison.consistent:
            result.message = f"{result.message} ({where})"
            continue
        recomputed = RECOMPUTED.get(comparison.kind, ())
        if result.rule.metric not in recomputed:
            _no_comparison(result)
            result.message = (f"{where}: {result.rule.metric} comes from the test's assertions on each judge's "
                              f"verdicts and cannot be recomputed for the baseline; gate "
                              f"{' or '.join(recomputed)} to compare the runs under one judge")
        elif not comparison.rejudged:
            _no_comparison(result)
            result.message = (f"{where}; the baseline's answers are not stored, so the runs cannot be compared "
                              f"under one judge")
        else:
            result.message = f"{result.message} ({where})"


def _no_comparison(result) -> None:
    """n/a, without the figures of a comparison across judges (they would read as a verdict)."""
    result.verdict = "n/a"
    result.n, result.value, result.ci, result.ci_method = 0, None, None, None
    result.baseline_value, result.delta, result.p_value, result.test, result.missing = None, None, None, None, None


def _names(pairs: set) -> str:
    return ", ".join(f"sha256:{judge[:12]} (template {template[:12]})" for judge, template in sorted(pairs))


def _rejudged(db, run_id: int, suite: str, pairs: set) -> dict:
    """item_id -> the newest re-judgment of the item by one of these (judge, template) pairs."""
    from ..results.judging import rejudgments

    return {row["item_id"]: row for row in rejudgments(db, run_id, suite)
            if (row["judge_hash"], row["template_sha256"]) in pairs}


def _reread(row: dict, comparison: Comparison | None) -> dict:
    """A baseline outcome row with its verdict metrics from the re-judgment (dropped where there is none)."""
    if comparison is None:
        return row
    import json

    metrics = row.get("metrics")
    metrics = dict(json.loads(metrics) if isinstance(metrics, str) else metrics or {})
    row = dict(row)
    again = comparison.rejudged.get(row["item_id"])
    ok = again is not None and again["error"] is None
    if comparison.kind == "pairwise":
        metrics.pop("win_rate", None)
        if ok:
            metrics["win_rate"] = again["win_value"]
    else:
        metrics.pop("judge_rating", None)
        row["score"] = None
        if ok:
            metrics["judge_rating"] = again["rating"]
            row["score"] = (again["rating"] - 1) / (again["scale"] - 1)
    row["metrics"] = metrics
    return row
