"""Bootstrap intervals for a mean score and for a paired difference between two runs.

Why the bootstrap next to the normal interval: it needs no assumption about the shape of the
score distribution, and resampling whole clusters (all variants of one source item together)
keeps the interval honest when items are not independent.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from .inputs import cluster_totals, same_length, scores_array
from .proportion import z_for_confidence
from .resample import resampled_means
from .results import Estimate, PairedDiff

METHODS = ("percentile", "bca")
_N = NormalDist()


def bootstrap_ci(scores, *, clusters=None, n_resamples: int = 10_000, confidence: float = 0.95,
                 method: str = "percentile", seed=0) -> Estimate:
    """Bootstrap interval for the mean score; with `clusters`, a cluster bootstrap.

    The statistic is the mean over items, sum(scores) / n. The cluster bootstrap draws clusters
    with replacement and recomputes that item-level mean, so unequal cluster sizes are fine.
    Deterministic given `seed` (anything `numpy.random.default_rng` takes).
    """
    x = scores_array(scores, "scores", "bootstrap_ci")
    sums, sizes = cluster_totals(x, clusters, "bootstrap_ci")
    estimate, _ = _bootstrap(sums, sizes, n_resamples, confidence, method, seed, "bootstrap_ci")
    return estimate


def paired_bootstrap_diff(a, b, *, clusters=None, n_resamples: int = 10_000, confidence: float = 0.95,
                          method: str = "percentile", seed=0) -> PairedDiff:
    """Interval and two-sided p-value for mean(a) - mean(b), where a[i] and b[i] score the same item.

    Each resample draws the same items (or clusters) for both runs, which is the bootstrap of the
    per-item differences a - b: pairing removes the variation between items that both runs share.
    The p-value is 2 * min(share of resampled differences <= 0, share >= 0), each counted as
    (k + 1) / (n_resamples + 1) so it is never 0; p < 1 - confidence exactly when the percentile
    interval excludes 0 (up to that +1). It is the percentile p-value whichever `method` gives the
    interval.
    """
    func = "paired_bootstrap_diff"
    xa, xb = scores_array(a, "a", func), scores_array(b, "b", func)
    same_length(func, a=xa, b=xb)
    d = xa - xb
    sign = _orientation(d)
    sums, sizes = cluster_totals(sign * d, clusters, func)
    diff, boots = _bootstrap(sums, sizes, n_resamples, confidence, method, seed, func)
    k = min(int(np.count_nonzero(boots <= 0)), int(np.count_nonzero(boots >= 0)))
    p_value = min(1.0, 2 * (k + 1) / (len(boots) + 1))
    if sign < 0:
        diff = Estimate(-diff.value, -diff.hi, -diff.lo, diff.se, diff.confidence)
    return PairedDiff(diff, p_value, n_items=len(xa), n_clusters=len(sums))


def _orientation(d: np.ndarray) -> int:
    """+1 or -1, flipping with the sign of d, so (a, b) and (b, a) resample the same values.

    The draws then mirror each other exactly: swapping the runs negates the interval and keeps
    the p-value, for any seed, instead of agreeing only up to resampling noise.
    """
    total = d.sum()
    if total != 0:
        return 1 if total > 0 else -1
    nonzero = np.flatnonzero(d)
    return 1 if nonzero.size == 0 or d[nonzero[0]] > 0 else -1


def _bootstrap(sums, sizes, n_resamples, confidence, method, seed, func) -> tuple[Estimate, np.ndarray]:
    if method not in METHODS:
        raise ValueError(f"{func}: method must be one of {METHODS}, got {method!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise ValueError(f"{func}: n_resamples must be an integer >= 2, got {n_resamples!r}")
    z_for_confidence(confidence)  # validates confidence
    if len(sums) < 2:
        raise ValueError(f"{func}: the bootstrap needs at least 2 items or clusters, got {len(sums)}")
    value = float(sums.sum() / sizes.sum())
    boots = resampled_means(sums, sizes, int(n_resamples), np.random.default_rng(seed))
    alpha = 1 - confidence
    if method == "bca":
        levels = _bca_levels(boots, value, sums, sizes, alpha)
    else:
        levels = (alpha / 2, 1 - alpha / 2)
    lo, hi = np.percentile(boots, [100 * levels[0], 100 * levels[1]])
    return Estimate(value, float(lo), float(hi), float(boots.std(ddof=1)), confidence), boots


def _bca_levels(boots, value, sums, sizes, alpha) -> tuple[float, float]:
    """Bias-corrected and accelerated percentile levels (Efron 1987), as scipy.stats.bootstrap has them.

    Bias correction from the share of replicates below the estimate (ties count half); the
    acceleration from the jackknife, which for this ratio of sums has a closed form:
    leaving out unit g gives (S - s_g) / (N - m_g).
    """
    n = len(boots)
    share = (np.count_nonzero(boots < value) + np.count_nonzero(boots <= value)) / (2 * n)
    z0 = _N.inv_cdf(min(max(share, 1 / (2 * n)), 1 - 1 / (2 * n)))
    jack = (sums.sum() - sums) / (sizes.sum() - sizes)
    u = jack.mean() - jack
    ss = float(np.sum(u * u))
    accel = float(np.sum(u ** 3)) / (6 * ss ** 1.5) if ss > 0 else 0.0
    levels = []
    for z_alpha in (_N.inv_cdf(alpha / 2), _N.inv_cdf(1 - alpha / 2)):
        num = z0 + z_alpha
        levels.append(_N.cdf(z0 + num / (1 - accel * num)))
    return levels[0], levels[1]
