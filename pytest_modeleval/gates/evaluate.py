"""Verdicts: apply each suite's rules to a run's outcomes (and the baseline run's), with the noise rule.

The noise rule for a regression rule, exactly: let d be the paired difference of the metric's
mean (this run minus the baseline, on the items both runs answered), oriented so that a fall is
positive. The gate FAILS when

    fall > margin   AND   p < alpha

where p is the two-sided p-value of the paired test of "no difference": McNemar's exact test when
every value is 0 or 1 and every item is its own source item, otherwise the paired bootstrap
(10,000 resamples, seed 0) resampling whole source items (the variants `-p0`, `-p1` of one row
together). Both conditions, because each alone is wrong: a large fall on a handful of items is
mostly luck (the test is not significant), and on 10,000 items a 0.3-point fall is significant
but within what the margin allows. Under "no difference" the gate fails with probability at most
alpha / 2 (the two-sided test, one direction blocks).

Threshold rules compare the point estimate with `min` / `max` and, where given, the bounds of a
95% interval with `ci-min` / `ci-max`: Wilson for per-item values in [0, 1] without variants (a
tie counted 0.5 is fine), the cluster bootstrap otherwise.

Family-wise control: the regression gates of one run are one family. Their raw p-values are
adjusted together (Holm by default, `correction` in [tool.modeleval.gates]) and the rule above
reads the adjusted p. A regression gate that does not fail but could not have detected a fall
beyond its margin (80% power, `gates.power`) is `underpowered`; `underpowered = "fail"` blocks it.
Threshold rules compare the estimate (basis "estimate") or the interval's bound ("lower-bound")
and always say whether the interval shows the bound.

A suite with `sequential = true` has its regression gates replayed round by round first
(gates/sequential.py): a gate its anytime-valid tests closed before the items ran out is decided
there (FAIL, or pass shown), on the items of its rounds; an open one goes through the rule above.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .display import fmt, fmt_delta, fmt_p
from .rules import BUILTIN_METRICS, GateConfig, Rule

if TYPE_CHECKING:
    from .baseline import Baseline

# "pending": a regression gate waiting for its family's adjusted p-values
Verdict = Literal["pass", "fail", "underpowered", "n/a", "overridden", "pending"]
Correction = Literal["holm", "bonferroni", "none"]

ANSWERED = ("correct", "wrong")
SHOWN_MISSING = 5  # item ids listed per side when runs do not cover the same items
_EPS = 1e-12  # a fall of exactly the margin is within it, whatever the float rounding


@dataclass
class Paired:
    """A paired comparison of one metric between two runs on the items both have."""

    n: int
    n_clusters: int
    mean: float  # this run
    baseline_mean: float
    delta: float  # mean - baseline_mean
    ci: tuple[float, float] | None  # of delta
    p_value: float
    test: str
    proportion: bool
    discordance: float | None = None  # right/wrong items on independent items: the share that differ
    se: float | None = None  # otherwise: the bootstrap standard error of delta


@dataclass
class GateResult:
    suite: str
    rule: Rule
    verdict: Verdict
    message: str
    n: int = 0
    value: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str | None = None
    baseline_run_id: int | None = None
    baseline_value: float | None = None
    delta: float | None = None
    p_value: float | None = None
    test: str | None = None
    proportion: bool = True
    missing: dict | None = None  # {"not_in_run": n, "not_in_run_first": [...], "not_in_baseline": ..., ...}
    override: dict | None = None
    p_adjusted: float | None = None  # regression: p adjusted over the run's family of regression gates
    correction: Correction | None = None
    family_size: int | None = None  # regression gates in that family
    detectable: float | None = None  # regression: smallest fall detected with 80% power (inf: none)
    needed_n: int | None = None  # items for the gate to see a fall of its margin (thresholds: to show the bound)
    underpowered: bool = False  # could not have seen a fall beyond its margin
    properties: list[tuple[str, str]] = field(default_factory=list)  # more JUnit properties, from a feature
    sequential: dict | None = None  # a sequential gate: its decision (gates/sequential.py Decision.as_record), or
    # {"open": rounds} when the items ran out first and the fixed-size rule decided

    @property
    def name(self) -> str:
        """How the gate is named in the summary and JUnit: `no-regression[mmlu]`."""
        return f"{self.rule.name}[{self.suite}]"


@dataclass
class GateReport:
    results: list[GateResult]
    not_recorded: dict[str, list[str]] = field(default_factory=dict)  # rule name -> suites without its metric
    baseline: Baseline | None = None
    baseline_note: str = ""  # why there is no baseline
    suites_not_run: list[str] = field(default_factory=list)  # suites of the baseline that this run lacks
    recorded: dict[str, set] = field(default_factory=dict)  # suite -> the metrics its answered items record

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if r.verdict == "fail"]

    @property
    def status(self) -> str:
        """`failed`, `overridden` (failures all covered by overrides) or `passed`."""
        if self.failed:
            return "failed"
        return "overridden" if any(r.verdict == "overridden" for r in self.results) else "passed"


def item_values(rows) -> tuple[dict, set]:
    """suite -> metric -> item_id -> value over answered items, and the suites that have any row.

    `score` and `accuracy` come from the outcome itself; every other metric from the item's
    `metrics` (a dict, or its JSON text as stored). Errors and skips carry no values. A suite with
    samples=K has one item per K samples: their mean, with pass^k, flaky and pass@k (gates/samples.py).
    """
    from .samples import SampleFolder

    values: dict = defaultdict(lambda: defaultdict(dict))
    suites = set()
    samples = SampleFolder()
    for row in rows:
        suite = row["suite"]
        suites.add(suite)
        samples.see(row)
        if row["outcome"] not in ANSWERED:
            continue
        item = row["item_id"]
        per_suite = values[suite]
        if row.get("score") is not None:
            per_suite["score"][item] = float(row["score"])
        if row.get("p_correct") is not None and math.isfinite(float(row["p_correct"])):
            per_suite["p_correct"][item] = float(row["p_correct"])  # Choices suites: see docs/gates.md
        per_suite["accuracy"][item] = 1.0 if row["outcome"] == "correct" else 0.0
        metrics = row.get("metrics")
        if isinstance(metrics, str):
            metrics = json.loads(metrics)
        for name, value in (metrics or {}).items():
            if isinstance(value, bool) or isinstance(value, (int, float)):
                if math.isfinite(float(value)):
                    per_suite[name][item] = float(value)
    return samples.fold(values), suites


def evaluate(config: GateConfig, rows, baseline=None, baseline_note: str = "") -> GateReport:
    """Every rule of every suite in `rows`; a rule whose metric a suite does not record is listed, not run."""
    current, suites = item_values(rows)
    before = item_values(baseline.rows)[0] if baseline is not None else {}
    report = GateReport([], baseline=baseline, baseline_note=baseline_note)
    report.recorded = {suite: set(current.get(suite, {})) for suite in suites}
    compared: list[tuple[GateResult, Paired]] = []  # the family: regression gates with a paired test
    looks = _Looks(config, rows, suites)
    for suite in sorted(suites):
        for rule in config.rules_for(suite):
            values = current.get(suite, {}).get(rule.metric)
            if not values:
                if rule.metric in BUILTIN_METRICS:
                    report.results.append(GateResult(suite, rule, "n/a", f"suite {suite} has no answered items "
                                                     "(every item was an error or skipped)"))
                else:
                    report.not_recorded.setdefault(rule.name, []).append(suite)
                continue
            if rule.kind == "regression":
                result, cmp = _regression(suite, rule, values, before, baseline, baseline_note, looks)
                if cmp is not None:
                    compared.append((result, cmp))
            else:
                result = _threshold(suite, rule, values)
            report.results.append(result)
    _decide_family(compared, config.correction, baseline)
    if baseline is not None:
        report.suites_not_run = sorted(set(before) - suites)
    return report


def paired(a: list[float], b: list[float], item_ids: list[str], *, confidence: float = 0.95) -> Paired:
    """mean(a) - mean(b) over paired items, its bootstrap interval, and the paired test's p-value.

    McNemar's exact test for 0/1 values on independent items; otherwise the p-value of the paired
    bootstrap, resampling source items (variants of one row together) when there are variants.
    """
    from ..stats import mcnemar_exact, paired_bootstrap_diff, source_items

    n = len(a)
    clusters = source_items(item_ids)
    n_clusters = len(set(clusters))
    proportion = all(0.0 <= v <= 1.0 for v in a + b)
    binary = all(v in (0.0, 1.0) for v in a + b)
    mean, baseline_mean = sum(a) / n, sum(b) / n
    ci, p_value, test, se, discordance = None, 1.0, "none (one item)", None, None
    if n_clusters >= 2:
        clustered = n_clusters < n
        diff = paired_bootstrap_diff(a, b, clusters=clusters if clustered else None, confidence=confidence, seed=0)
        ci, p_value, se = (diff.diff.lo, diff.diff.hi), diff.p_value, diff.diff.se
        test = "paired cluster bootstrap" if clustered else "paired bootstrap"
    if binary and n_clusters == n:
        p_value, test = mcnemar_exact(a, b).p_value, "McNemar exact"
        discordance = sum(x != y for x, y in zip(a, b)) / n
    return Paired(n, n_clusters, mean, baseline_mean, mean - baseline_mean, ci, p_value, test, proportion,
                  discordance, se)


class _Looks:
    """The sequential side of a run's regression gates (gates/sequential.py): each sequential suite's visiting
    order, from every test of it the rows hold (skipped ones too), and the alpha a FAIL spends."""

    def __init__(self, config: GateConfig, rows, suites: set):
        from .sequential import family_bound

        self.config = config
        self.ids: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            if config.is_sequential(row["suite"]):
                self.ids[row["suite"]].append(row["item_id"])
        self.family = family_bound(config, suites)

    def decide(self, suite: str, rule: Rule, new: dict, old: dict):
        """(the suite's order, the decision or None), or None when the gate is not a sequential one."""
        from .sequential import applies, decide, order

        if not self.config.is_sequential(suite) or not applies(new, old):
            return None
        plan = order(suite, self.ids[suite], self.config.look_every)
        return plan, decide(plan, new, old, margin=rule.margin, better=rule.better, alpha=rule.alpha,
                            alpha_fail=rule.alpha / self.family)


def _regression(suite: str, rule: Rule, values: dict, before: dict, baseline, note: str, looks: _Looks):
    """(result, paired comparison): the comparison is decided with the rest of the family (`_decide_family`).
    A sequential gate decided before its suite ran out is compared on the items its decision rests on."""
    if baseline is None:
        return GateResult(suite, rule, "n/a", f"no baseline: {note}"), None
    old = before.get(suite, {}).get(rule.metric)
    if not old:
        return GateResult(suite, rule, "n/a", f"baseline run {baseline.run_id} has no {rule.metric} for suite "
                                               f"{suite}", baseline_run_id=baseline.run_id), None
    shared = sorted(values.keys() & old.keys())
    missing = _missing(values, old)
    if not shared:
        return GateResult(suite, rule, "n/a", f"no items in common with baseline run {baseline.run_id}",
                          baseline_run_id=baseline.run_id, missing=missing), None
    looked = looks.decide(suite, rule, values, old)
    decision = looked[1] if looked else None
    if decision is not None:  # what it rests on: the items of its rounds (the rest were not evaluated)
        plan = looked[0]
        shared = [i for i in shared if plan.round_of(i) <= decision.round]
        missing = _missing({i: v for i, v in values.items() if plan.round_of(i) <= decision.round},
                           {i: v for i, v in old.items() if plan.round_of(i) <= decision.round})
    cmp = paired([values[i] for i in shared], [old[i] for i in shared], shared, confidence=rule.confidence)
    result = GateResult(suite, rule, "pending", "", n=cmp.n, value=cmp.mean, ci=cmp.ci,
                        ci_method="paired bootstrap" if cmp.ci else None, baseline_run_id=baseline.run_id,
                        baseline_value=cmp.baseline_mean, delta=cmp.delta, p_value=cmp.p_value, test=cmp.test,
                        proportion=cmp.proportion, missing=missing)
    if decision is not None:
        result.sequential = decision.as_record()
        result.p_value, result.test = decision.p_fail, "sequential test by betting"
        cmp.p_value = decision.p_fail  # its anytime-valid p joins the family's adjustment
    elif looked is not None:
        result.sequential = {"open": looked[0].rounds, "of": looked[0].tests}
    return result, cmp


def _decide_family(compared: list, correction: str, baseline) -> None:
    """Adjust the family's p-values together, then apply the noise rule and the power check to each gate."""
    from ..stats.multiplicity import adjust, single_level
    from .power import regression_power

    m = len(compared)
    adjusted = adjust([cmp.p_value for _, cmp in compared], correction)
    for (result, cmp), p_adj in zip(compared, adjusted):
        rule = result.rule
        result.p_adjusted, result.correction, result.family_size = p_adj, correction, m
        power = regression_power(cmp, rule.margin, single_level(rule.alpha, m, correction))
        result.detectable, result.needed_n = power.detectable, power.needed_n
        if result.sequential is not None and "verdict" in result.sequential:
            _sequential_verdict(result, cmp, baseline)
        else:
            _verdict(result, cmp, baseline, power)


def _sequential_verdict(result: GateResult, cmp: Paired, baseline) -> None:
    """A gate its sequential tests closed: FAIL (the fall beyond the margin shown) or pass (shown)."""
    from .sequential import describe

    rule, seq = result.rule, result.sequential or {}
    margin = f"{100 * rule.margin:g}-point" if cmp.proportion else f"{rule.margin:g}"
    change = (f"{fmt(cmp.baseline_mean, cmp.proportion)} -> {fmt(cmp.mean, cmp.proportion)} "
              f"on {cmp.n} paired items")
    bound = fmt_delta(seq["bound"], cmp.proportion, signed=False)
    level = f"{100 * (1 - seq['level']):.3g}%"
    test = f"sequential test by betting, e={seq['e_value']:.3g} >= {seq['threshold']:.3g}"
    if seq["verdict"] == "fail":
        result.verdict = "fail"
        spent = _gates(round(seq["threshold"] * rule.alpha))  # threshold = m / alpha
        result.message = (f"{rule.metric} fell beyond the {margin} margin against baseline run {baseline.run_id} "
                          f"({change}), {describe(seq)}: the fall is at least {bound} ({level} anytime-valid "
                          f"bound; {test}, alpha {rule.alpha:g} spent over {spent})")
    else:
        result.verdict = "pass"
        result.message = (f"pass (shown): {rule.metric} fell at most {bound} against baseline run "
                          f"{baseline.run_id}, within the {margin} margin ({level} anytime-valid bound; {test}; "
                          f"{change}), {describe(seq)}")


def _verdict(result: GateResult, cmp: Paired, baseline, power) -> None:
    rule = result.rule
    fall = -cmp.delta if rule.better == "higher" else cmp.delta
    beyond = fall > rule.margin + _EPS
    significant = result.p_adjusted is not None and result.p_adjusted < rule.alpha
    change = (f"{fmt(cmp.baseline_mean, cmp.proportion)} -> {fmt(cmp.mean, cmp.proportion)} "
              f"on {cmp.n} paired items")
    test = f"{cmp.test} p={fmt_p(cmp.p_value)}"
    if result.correction is not None and result.correction != "none":
        test += (f", {result.correction.capitalize()}-adjusted p={fmt_p(result.p_adjusted)} over "
                 f"{result.family_size} regression gate{'s' if result.family_size != 1 else ''}")
    margin = f"{100 * rule.margin:g}-point" if cmp.proportion else f"{rule.margin:g}"
    if beyond and significant:
        result.verdict = "fail"
        result.message = (f"{rule.metric} fell {fmt_delta(fall, cmp.proportion, signed=False)} against baseline "
                          f"run {baseline.run_id} ({change}): more than the {margin} margin, and significant "
                          f"({test} < {rule.alpha:g})")
        return
    if beyond:
        message = (f"{rule.metric} fell {fmt_delta(fall, cmp.proportion, signed=False)} ({change}), more than "
                   f"the {margin} margin but not significant ({test} >= {rule.alpha:g}): within noise")
    else:
        message = (f"{rule.metric} changed {fmt_delta(cmp.delta, cmp.proportion)} against baseline run "
                   f"{baseline.run_id} ({change}; {test}); the margin is {margin}")
    seen = _power_text(power, cmp, margin)
    if result.sequential is not None:  # open after every round: the fixed-size rule decides, as it says
        seen += (f"; sequential: still open after all {result.sequential['open']} rounds "
                 f"({result.sequential['of']:,} items), so the fixed-size rule decided")
    result.underpowered = rule.margin > 0 and power.detectable > rule.margin + _EPS
    if not result.underpowered:
        result.verdict, result.message = "pass", f"{message}; {seen}"
    elif rule.underpowered == "fail":
        result.verdict = "fail"
        result.message = f"underpowered, and underpowered = \"fail\" blocks it: {message}; {seen}"
    else:
        result.verdict, result.message = "underpowered", f"{message}; underpowered: {seen}"


def _gates(m: int) -> str:
    return f"{m} regression gate" + ("" if m == 1 else "s")


def _power_text(power, cmp: Paired, margin: str) -> str:
    level = f"80% power at alpha {power.level:.3g}"
    if math.isinf(power.detectable):
        seen = f"no fall of any size is detectable on {cmp.n} paired items ({level})"
    else:
        seen = f"it detects a fall of {fmt_delta(power.detectable, cmp.proportion, signed=False)} ({level})"
    if power.needed_n is not None and power.needed_n > cmp.n:
        seen += f"; a fall of the {margin} margin needs about {power.needed_n:,} paired items"
    return seen


def _threshold(suite: str, rule: Rule, values: dict) -> GateResult:
    ids = list(values)
    x = [values[i] for i in ids]
    n = len(x)
    mean = sum(x) / n
    proportion = all(0.0 <= v <= 1.0 for v in x)
    ci, method = _interval(x, ids, proportion, rule.confidence)
    level = f"{100 * rule.confidence:g}%"
    problems = []
    if rule.basis == "lower-bound":  # the interval's bound, not the estimate, must clear min / max
        for bound, limit, side in ((0, rule.min, "lower"), (1, rule.max, "upper")):
            if limit is None:
                continue
            if ci is None:
                problems.append(f"the {side} bound of a {level} interval cannot be computed from {n} item")
            elif (ci[bound] < limit) if side == "lower" else (ci[bound] > limit):
                word = "minimum" if side == "lower" else "maximum"
                problems.append(f"the {side} bound of its {level} {method} interval, {fmt(ci[bound], proportion)}, "
                                f"does not clear the {word} {fmt(limit, proportion)} (basis = \"lower-bound\")")
    else:
        if rule.min is not None and mean < rule.min:
            problems.append(f"{rule.metric} {fmt(mean, proportion)} is below the minimum {fmt(rule.min, proportion)}")
        if rule.max is not None and mean > rule.max:
            problems.append(f"{rule.metric} {fmt(mean, proportion)} is above the maximum {fmt(rule.max, proportion)}")
    for bound, limit, side in ((0, rule.ci_min, "lower"), (1, rule.ci_max, "upper")):
        if limit is None:
            continue
        if ci is None:
            problems.append(f"the {side} bound of a {level} interval cannot be computed from {n} item")
            continue
        if (ci[bound] < limit) if side == "lower" else (ci[bound] > limit):
            relation = "below" if side == "lower" else "above"
            problems.append(f"the {side} bound of its {level} {method} interval, {fmt(ci[bound], proportion)}, "
                            f"is {relation} {fmt(limit, proportion)}")
    shown = f"{rule.metric} {fmt(mean, proportion)} on {n} items"
    if ci is not None:
        shown += f", {level} {method} interval [{fmt(ci[0], proportion)}, {fmt(ci[1], proportion)}]"
    if problems:
        message = "; ".join(problems) + f" ({shown})"
    else:
        message = f"{shown}: within {rule.describe().split(': ', 1)[1]}"
    needed = None
    if rule.min is not None or rule.max is not None:  # what the suite can and cannot show, always said
        from .power import threshold_shows

        shows, needed = threshold_shows(rule, mean, n, ci, method, proportion)
        message += f"; {shows}"
    return GateResult(suite, rule, "fail" if problems else "pass", message, n=n, value=mean, ci=ci,
                      ci_method=method, proportion=proportion, needed_n=needed)


def _interval(x: list[float], ids: list[str], proportion: bool, confidence: float):
    from ..stats import source_items

    clusters = source_items(ids)
    independent = len(set(clusters)) == len(x)
    if proportion and independent:
        from ..stats import wilson, z_for_confidence

        return wilson(sum(x), len(x), z_for_confidence(confidence)), "Wilson"
    if len(set(clusters)) < 2:
        return None, None
    from ..stats import bootstrap_ci

    est = bootstrap_ci(x, clusters=None if independent else clusters, confidence=confidence, seed=0)
    return (est.lo, est.hi), "bootstrap" if independent else "cluster bootstrap"


def _missing(current: dict, old: dict) -> dict | None:
    not_in_run = sorted(old.keys() - current.keys())
    not_in_baseline = sorted(current.keys() - old.keys())
    if not not_in_run and not not_in_baseline:
        return None
    return {"not_in_run": len(not_in_run), "not_in_run_first": not_in_run[:SHOWN_MISSING],
            "not_in_baseline": len(not_in_baseline), "not_in_baseline_first": not_in_baseline[:SHOWN_MISSING]}
