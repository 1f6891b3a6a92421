"""The contamination score: does the model drop on variants of the items it gets right?

CS = (acc_baseline - acc_perturbed) / acc_baseline, over a suite's source items: acc_baseline is
the accuracy on the canonical items, acc_perturbed the mean over items of each item's accuracy
on its variants (every item weighs the same, whatever its variant count).

- Suite level: the per-item differences baseline - mean(variants) are tested one-sided (a drop)
  by a bootstrap over items (items are the clusters: an item's variants move together), and CS
  gets a percentile bootstrap interval from the same item resamples.
- Item level: an item the model gets right on the canonical text has CS_i = 1 - its variant
  accuracy. It is flagged when CS_i > threshold and a one-sided exact binomial test rejects
  "variant accuracy >= 1 - threshold" at alpha. One canonical outcome and a few variants cannot
  support that test: below MIN_VARIANTS (the spec's 10) no item is flagged, and the verdict is
  the suite-level one only, said as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIN_VARIANTS = 10
THRESHOLD = 0.10  # the spec: an item is contaminated when CS > 0.10 ...
ALPHA = 0.05  # ... with p < 0.05


@dataclass(frozen=True)
class ItemScore:
    item: str
    baseline: float  # the canonical item's outcome, 0 or 1 (or a score in [0, 1])
    variant_mean: float
    n_variants: int
    cs: float | None  # None when the canonical item was wrong: nothing to drop from
    p_value: float | None  # None when the variants are too few for the test
    flagged: bool


@dataclass(frozen=True)
class SuiteScore:
    n_items: int
    acc_baseline: float
    acc_perturbed: float
    cs: float | None  # None when acc_baseline is 0
    cs_ci: tuple[float, float] | None
    p_value: float | None  # one-sided, for a drop
    items: list[ItemScore] = field(default_factory=list)
    item_flags: bool = False  # whether every item had enough variants for item-level flags

    @property
    def flagged_share(self) -> float | None:
        """Share of items flagged, the `contaminated` gate's value; None when items cannot be flagged."""
        return sum(i.flagged for i in self.items) / len(self.items) if self.item_flags and self.items else None


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), exactly."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def score_item(item: str, baseline: float, variants: list[float], *, threshold: float = THRESHOLD,
               alpha: float = ALPHA, min_variants: int = MIN_VARIANTS) -> ItemScore:
    if not variants:
        raise ValueError(f"item {item}: no variant outcomes to score")
    mean = sum(variants) / len(variants)
    if baseline <= 0:
        return ItemScore(item, baseline, mean, len(variants), None, None, False)
    cs = (baseline - mean) / baseline
    p = None
    if len(variants) >= min_variants:
        successes = round(sum(1 for v in variants if v >= 0.5))
        p = binomial_cdf(successes, len(variants), 1 - threshold)
    return ItemScore(item, baseline, mean, len(variants), cs, p, bool(p is not None and cs > threshold and p < alpha))


def score_suite(outcomes: dict[str, tuple[float, list[float]]], *, threshold: float = THRESHOLD,
                alpha: float = ALPHA, min_variants: int = MIN_VARIANTS, n_resamples: int = 10_000,
                confidence: float = 0.95, seed: int = 0) -> SuiteScore:
    """`outcomes`: item -> (canonical outcome, its variants' outcomes)."""
    import numpy as np

    if not outcomes:
        raise ValueError("score_suite: no items")
    items = [score_item(k, b, v, threshold=threshold, alpha=alpha, min_variants=min_variants)
             for k, (b, v) in sorted(outcomes.items())]
    base = np.array([i.baseline for i in items])
    pert = np.array([i.variant_mean for i in items])
    acc_b, acc_p = float(base.mean()), float(pert.mean())
    cs = (acc_b - acc_p) / acc_b if acc_b > 0 else None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(items), size=(n_resamples, len(items)))
    b_means, p_means = base[idx].mean(axis=1), pert[idx].mean(axis=1)
    diffs = b_means - p_means
    p_value = float((np.count_nonzero(diffs <= 0) + 1) / (n_resamples + 1))  # one-sided: no drop
    ci = None
    if cs is not None:
        ok = b_means > 0
        ratios = diffs[ok] / b_means[ok]
        lo, hi = np.percentile(ratios, [50 * (1 - confidence), 50 * (1 + confidence)])
        ci = (float(lo), float(hi))
    enough = all(i.n_variants >= min_variants for i in items)
    return SuiteScore(len(items), acc_b, acc_p, cs, ci, p_value, items, item_flags=enough)


def suite_level_drop(score: SuiteScore, *, threshold: float = THRESHOLD, alpha: float = ALPHA) -> bool:
    """The verdict when items cannot be flagged: the suite's CS exceeds the threshold, significantly."""
    return score.cs is not None and score.cs > threshold and score.p_value is not None and score.p_value < alpha
