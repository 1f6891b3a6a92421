"""Proportions and the normal distribution: the Wilson interval, z quantiles, z-tests.

No numpy here: the end-of-run summary imports `wilson`, and a run should not pay for numpy
just to print its table.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from .results import Estimate, TestResult

Z95 = 1.959963984540054
_STANDARD_NORMAL = NormalDist()


def z_for_confidence(confidence: float) -> float:
    """The normal quantile z with P(-z < Z < z) = confidence (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2)


def normal_p_value(z: float) -> float:
    """Two-sided p-value of a standard normal statistic: P(|Z| >= |z|).

    Computed from the upper tail with erfc, so it stays accurate far out (1 - cdf would round to 0).
    """
    if math.isnan(z):
        raise ValueError("normal_p_value got z = nan")
    return math.erfc(abs(z) / math.sqrt(2))


def z_test(value: float, se: float, null: float = 0.0) -> TestResult:
    """Two-sided z-test of `value` against `null` given its standard error."""
    if not se > 0:
        raise ValueError(f"z_test needs a positive standard error, got se={se!r}")
    z = (value - null) / se
    return TestResult(statistic=z, p_value=normal_p_value(z))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion.

    Chosen over the normal approximation because eval suites are often small and
    accuracies near 0 or 1, where the normal interval leaves [0, 1] or collapses to a point.
    Returns (nan, nan) for n == 0.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson needs 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 / n and n / n the bound is exactly 0 or 1; say so rather than leave a rounding error.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def wilson_estimate(successes: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """The proportion successes / n with its Wilson interval and the binomial standard error.

    The interval is not centred on the estimate (it leans towards 1/2); se = sqrt(p(1 - p) / n)
    is given for reporting and is 0 at p = 0 or 1, where the interval is not.
    """
    if n == 0:
        raise ValueError("wilson_estimate needs n > 0, got n=0")
    lo, hi = wilson(successes, n, z_for_confidence(confidence))
    p = successes / n
    return Estimate(p, lo, hi, math.sqrt(p * (1 - p) / n), confidence)
