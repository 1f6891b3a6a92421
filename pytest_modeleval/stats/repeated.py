"""Repeated samples of one item: pass^k (all k samples right) and the flaky share, beside pass@k.

Why: one sample per item hides the item a model solves only sometimes. With K samples of each item,
pass@k says how likely at least one of k samples is right, pass^k how likely all k are (the
reliability users ask for: "does it solve it every time?"), and an item is flaky when its samples
disagree. The K samples of one item are not K independent items: they share the item's difficulty.
So the unit here is the item: every per-item value is computed from the item's own samples, and every
interval resamples items (or the source rows they came from), never samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .results import Estimate


def pass_hat_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass^k for one item with n samples of which c are right: C(c, k) / C(n, k).

    The chance that k samples drawn without replacement from the n are all right (Yao et al. 2024,
    "tau-bench"); at k = n it is 1 when every sample is right, else 0. Exact integers, rounded once.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"pass_hat_k: {name} must be a whole number, got {value!r}")
    from .passk import check_counts  # here: passk imports numpy, which the summary's other tables need not

    check_counts("pass_hat_k", n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def flaky(outcomes: Sequence[int]) -> float:
    """1.0 when an item's samples disagree (some right, some wrong), else 0.0."""
    right = sum(1 for v in outcomes if v)
    return 1.0 if 0 < right < len(outcomes) else 0.0


@dataclass(frozen=True)
class RepeatedSamples:
    """A suite's figures over its items with all K samples answered; each interval is over items."""

    items: int
    samples: int  # K
    pass_at_1: Estimate  # the mean per-item share of right samples
    pass_at_k: Estimate  # pass@K
    pass_hat_k: Estimate  # pass^K: the share of items whose K samples are all right
    flaky: Estimate  # the share of items whose samples disagree


def repeated_samples(outcomes: Sequence[Sequence[int]], k: int, *, clusters=None, confidence: float = 0.95,
                     n_resamples: int = 10_000, seed=0) -> RepeatedSamples:
    """pass@1, pass@K, pass^K and the flaky share of items with K right/wrong (1/0) outcomes each.

    `outcomes`: per item, its K outcomes; `clusters`: a label per item when items are not independent
    (variants of one row), else each item is its own cluster. The intervals: Wilson over items for the
    0/1 per-item values (pass^K, flaky) of independent items, where a bootstrap would collapse to a point
    at 0% or 100%; otherwise the bootstrap resampling items (clusters), as `bootstrap_ci`.
    """
    from .passk import pass_at_k

    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"repeated_samples needs k >= 2 samples per item, got {k!r}")
    if not outcomes:
        raise ValueError("repeated_samples needs at least one item")
    for i, item in enumerate(outcomes):
        if len(item) != k or any(v not in (0, 1) for v in item):
            raise ValueError(f"repeated_samples: item {i} must have {k} outcomes of 0 or 1, got {list(item)!r}")
    rights = [sum(int(v) for v in item) for item in outcomes]
    shown = dict(clusters=clusters, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return RepeatedSamples(
        items=len(outcomes), samples=k,
        pass_at_1=item_mean([c / k for c in rights], **shown),
        pass_at_k=item_mean([float(pass_at_k(k, c, k)) for c in rights], **shown),
        pass_hat_k=item_mean([pass_hat_k(k, c, k) for c in rights], **shown),
        flaky=item_mean([flaky(item) for item in outcomes], **shown))


def item_mean(values: Sequence[float], *, clusters=None, confidence: float = 0.95, n_resamples: int = 10_000,
              seed=0) -> Estimate:
    """The mean of per-item values in [0, 1] with its interval over items (see `repeated_samples`).

    With a single item (or cluster) there is nothing to resample: the interval is (nan, nan).
    """
    n = len(values)
    mean = sum(values) / n
    independent = clusters is None or len(set(clusters)) == n
    if independent and all(v in (0.0, 1.0) for v in values):
        from .proportion import wilson_estimate

        return wilson_estimate(int(sum(values)), n, confidence=confidence)
    if len(set(clusters if clusters is not None else range(n))) < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, confidence)
    from .bootstrap import bootstrap_ci

    return bootstrap_ci(values, clusters=None if independent else clusters, confidence=confidence,
                        n_resamples=n_resamples, seed=seed)
