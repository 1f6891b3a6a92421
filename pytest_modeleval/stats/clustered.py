"""Standard errors of a mean score when items come in clusters, and the normal interval they give.

Variants of one source item (`suite-0042-p0`, `suite-0042-p1`) tend to be right or wrong
together; treating them as independent understates the error (Miller 2024, "Adding Error Bars
to Evals").
"""

from __future__ import annotations

import math

import numpy as np

from .inputs import cluster_codes, scores_array
from .proportion import z_for_confidence
from .results import Estimate


def clustered_se(scores, clusters=None, *, correction: bool = True) -> float:
    """Cluster-robust standard error of the mean score.

    With residuals e_i = s_i - mean and G clusters,
        se^2 = G / (G - 1) * sum over clusters of (sum of e_i in the cluster)^2 / n^2.
    Without the G / (G - 1) factor (`correction=False`) this is Miller's clustered standard error
    with the plain (1/n) variance in its CLT term, the CR0 sandwich. With it, it is what statsmodels reports for OLS on a
    constant with cov_type="cluster" (its (n - 1) / (n - k) factor is 1 for k = 1 regressor), and
    with every item its own cluster (clusters=None) it is the familiar s / sqrt(n), s with n - 1.
    """
    x = scores_array(scores, "scores", "clustered_se")
    codes = np.arange(len(x)) if clusters is None else cluster_codes(clusters, len(x), "clustered_se")
    n = len(x)
    totals = np.bincount(codes, weights=x - x.mean())
    g = len(totals)
    if g < 2:
        raise ValueError(f"clustered_se needs at least 2 clusters, got {g}")
    variance = float(np.sum(totals ** 2)) / n ** 2
    if correction:
        variance *= g / (g - 1)
    return math.sqrt(variance)


def normal_ci(scores, *, clusters=None, confidence: float = 0.95) -> Estimate:
    """The mean score with the interval mean +- z * se, se clustered when `clusters` is given.

    Relies on the central limit theorem: fine for a few dozen clusters or more; for fewer, or for
    accuracies near 0 or 1, prefer `wilson_estimate` or `bootstrap_ci`.
    """
    x = scores_array(scores, "scores", "normal_ci")
    se = clustered_se(x, clusters)
    z = z_for_confidence(confidence)
    mean = float(x.mean())
    return Estimate(mean, mean - z * se, mean + z * se, se, confidence)
