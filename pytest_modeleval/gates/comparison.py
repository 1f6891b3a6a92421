"""Two runs compared suite by suite: the one comparison `modeleval compare` prints and the dashboard shows.

For each suite and metric, the paired difference (run B - run A) on the items both runs answered,
with the gates' paired test (`evaluate.paired`: McNemar's exact test for right/wrong items, the
paired bootstrap otherwise, clustered when items have variants). The comparisons made are one family,
as a run's regression gates are: their p-values are adjusted together with the gates' `correction`
(`[tool.modeleval.gates] correction`, Holm by default). The command (cli/runs.py) and the dashboard's
compare page (report/compare.py) only format what `compare_runs` returns, so they agree to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evaluate import Paired, item_values, paired

# why a suite's metric was not compared (the run named in `RunComparison.missing_in`)
ONLY_IN = "only in"  # the suite has no rows in one of the runs
UNANSWERED = "unanswered"  # the suite has rows in both, but no answered item in one of them
NOT_RECORDED = "not recorded"  # answered items in both, but one run records no value of the metric
NO_COMMON = "no items in common"  # both record it, on no shared item


@dataclass
class RunItems:
    """One run's per-item values (`evaluate.item_values`: suite -> metric -> item -> value), the suites it has
    rows of, and each item's outcome; read once and shared by every comparison the run is in."""

    run_id: int
    values: dict
    suites: set
    outcomes: dict = field(default_factory=dict)  # suite -> item_id -> outcome

    @classmethod
    def read(cls, db, run_id: int) -> RunItems:
        from ..results.runs import outcome_values

        return cls.from_rows(run_id, outcome_values(db, run_id, p_correct=True))

    @classmethod
    def from_rows(cls, run_id: int, rows) -> RunItems:
        """From outcome rows (suite, item_id, outcome, score, metrics) a session holds in memory or the DB gave."""
        rows = list(rows)
        values, suites = item_values(rows)
        outcomes: dict[str, dict[str, str]] = {}
        for row in rows:
            outcomes.setdefault(row["suite"], {})[row["item_id"]] = row["outcome"]
        return cls(run_id, values, suites, outcomes)


@dataclass(frozen=True)
class MetricComparison:
    """One suite and metric: compared (`paired`, `p_adjusted`), or why not (`missing`, `missing_in`)."""

    suite: str
    metric: str
    paired: Paired | None = None
    p_adjusted: float | None = None  # over the comparison's family
    only_a: int = 0  # items with a value in run A only (unpaired)
    only_b: int = 0
    missing: str | None = None  # ONLY_IN | UNANSWERED | NOT_RECORDED | NO_COMMON
    missing_in: int | None = None  # the run that lacks the suite, answers or metric


@dataclass(frozen=True)
class RunComparison:
    a: int
    b: int
    rows: list[MetricComparison]  # suite by suite (sorted), each suite's metrics in the order compared
    correction: str  # how the family's p-values were adjusted: "holm" | "bonferroni" | "none"

    @property
    def family_size(self) -> int:
        """The comparisons adjusted together: every row with a paired test."""
        return sum(row.paired is not None for row in self.rows)


def default_metrics(a: RunItems, b: RunItems, suite: str) -> list[str]:
    """score, then every other metric both runs record for the suite (accuracy is score's twin: left out)."""
    shared = set(a.values.get(suite, {})) & set(b.values.get(suite, {}))
    return ["score"] + sorted(shared - {"score", "accuracy"})


def compare_runs(a: RunItems, b: RunItems, *, metrics: list[str] | None = None,
                 correction: str = "holm") -> RunComparison:
    """Run b against run a (delta = b - a), suite by suite, on `metrics` (default: `default_metrics`), with the
    p-values of the comparisons made adjusted as one family by `correction`."""
    from ..stats.multiplicity import adjust

    rows: list[MetricComparison] = []
    for suite in sorted(a.suites | b.suites):
        if suite not in a.suites or suite not in b.suites:
            rows.append(MetricComparison(suite, "", missing=ONLY_IN, missing_in=b.run_id if suite in a.suites else a.run_id))
            continue
        for metric in metrics or default_metrics(a, b, suite):
            rows.append(_compare(a, b, suite, metric))
    compared = [(i, row.paired.p_value) for i, row in enumerate(rows) if row.paired is not None]
    for (i, _), p_adj in zip(compared, adjust([p for _, p in compared], correction)):
        rows[i] = _with(rows[i], p_adjusted=p_adj)
    return RunComparison(a.run_id, b.run_id, rows, correction)


def _compare(a: RunItems, b: RunItems, suite: str, metric: str) -> MetricComparison:
    for run in (a, b):
        if not run.values.get(suite):
            return MetricComparison(suite, metric, missing=UNANSWERED, missing_in=run.run_id)
    va, vb = a.values[suite].get(metric), b.values[suite].get(metric)
    if not va or not vb:
        return MetricComparison(suite, metric, missing=NOT_RECORDED, missing_in=a.run_id if not va else b.run_id)
    only_a, only_b = len(va.keys() - vb.keys()), len(vb.keys() - va.keys())
    shared = sorted(va.keys() & vb.keys())
    if not shared:
        return MetricComparison(suite, metric, only_a=only_a, only_b=only_b, missing=NO_COMMON)
    cmp = paired([vb[i] for i in shared], [va[i] for i in shared], shared)
    return MetricComparison(suite, metric, cmp, only_a=only_a, only_b=only_b)


def _with(row: MetricComparison, **changes) -> MetricComparison:
    import dataclasses

    return dataclasses.replace(row, **changes)
