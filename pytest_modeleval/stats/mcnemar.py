"""McNemar's exact test: did two runs over the same items get different items right?

Only discordant items carry evidence: those one run got right and the other wrong. Under "no
difference" each discordant item is equally likely to go either way, so the count one way is
Binomial(discordant, 1/2). Exact, so it holds for the handful of discordant items a small
suite or two close checkpoints give, where the chi-square version does not.
"""

from __future__ import annotations

import numpy as np

from .inputs import same_length
from .results import TestResult


def mcnemar_exact(a_correct, b_correct) -> TestResult:
    """Exact two-sided McNemar test on paired right/wrong outcomes of runs a and b.

    statistic = min(a right & b wrong, a wrong & b right);
    p = min(1, 2 * P(Binomial(discordant, 1/2) <= statistic)), as statsmodels' mcnemar(exact=True).
    p = 1 when there are no discordant items.
    """
    a = _booleans(a_correct, "a_correct")
    b = _booleans(b_correct, "b_correct")
    same_length("mcnemar_exact", a_correct=a, b_correct=b)
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(~a & b))
    k = min(only_a, only_b)
    return TestResult(statistic=float(k), p_value=min(1.0, 2 * _binom_half_cdf(k, only_a + only_b)))


def _binom_half_cdf(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), exact: integer binomial coefficients, one rounding at the end."""
    term, total = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    return total / (1 << n)


def _booleans(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"mcnemar_exact: {name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype != bool:
        bad = ~np.isin(arr, (0, 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"mcnemar_exact: {name}[{i}] is {arr[i].item()!r}; expected right/wrong as True/False or 1/0")
        arr = arr.astype(bool)
    return arr
