"""How many items a suite needs to see a given difference, and what a given size can see.

Two-sided test at level `alpha`, probability `power` of detecting the effect. Three designs:

- "one-sample": one proportion (accuracy, or a win rate) against a fixed value `baseline`,
  such as a win rate against 50% or an accuracy against a release threshold.
- "two-sample": two proportions on separate, independent sets of n items each.
- "paired": two runs on the same n items, compared with McNemar's test. What matters then is
  `discordance`, the share of items on which the runs disagree (one right, the other wrong);
  the baseline accuracy does not enter.

One- and two-sample use Cohen's h, the difference on the arcsine scale 2 * asin(sqrt(p)), where
the variance of a proportion does not depend on p: n = ((z_a + z_b) / h)^2 for one sample and
twice that per group for two. "paired" uses Connor's (1987) normal approximation to McNemar's test:
n = (z_a * sqrt(q) + z_b * sqrt(q - d^2))^2 / d^2, q the discordance and d the difference.

The spec's rule of thumb, "n >= 200 to see 5-point differences in a win rate", holds for a
paired comparison of close runs: at n = 200 and 80% power a 5-point difference is detectable when
at most 6.4% of items are discordant (say 5.7% go from wrong to right and 0.7% the other way,
11 items against 1). It does not hold for a single win rate tested
against 50% (200 items see about 10 points; 5 points need about 780) nor for two independent
samples (about 1,570 items per group).
"""

from __future__ import annotations

import math
from statistics import NormalDist

DESIGNS = ("one-sample", "two-sample", "paired")
_N = NormalDist()


def sample_size_for_effect(effect: float, *, baseline: float = 0.5, alpha: float = 0.05, power: float = 0.8,
                           design: str = "one-sample", discordance: float | None = None) -> int:
    """Items needed (per group for "two-sample") to detect a rise of `effect` over `baseline`."""
    z = _z_sum(alpha, power)
    if not 0 < effect < 1:
        raise ValueError(f"effect must be a difference of proportions in (0, 1), got {effect!r}")
    if _check(design, baseline, discordance) == "paired":
        q = discordance
        if effect > q:
            raise ValueError(f"a paired difference cannot exceed the discordance: effect={effect}, discordance={q}")
        z_a, z_b = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(power)
        return math.ceil((z_a * math.sqrt(q) + z_b * math.sqrt(q - effect ** 2)) ** 2 / effect ** 2)
    target = baseline + effect
    if target > 1:
        raise ValueError(f"baseline + effect must stay <= 1, got {baseline} + {effect}")
    h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
    groups = 2 if design == "two-sample" else 1
    return math.ceil(groups * (z / h) ** 2)


def min_detectable_effect(n: int, *, baseline: float = 0.5, alpha: float = 0.05, power: float = 0.8,
                          design: str = "one-sample", discordance: float | None = None) -> float:
    """The smallest rise over `baseline` that n items (per group for "two-sample") detect.

    The inverse of `sample_size_for_effect`, in closed form. A fall from p is the rise from
    1 - p. Raises when n is too small to detect any difference the design allows.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    z = _z_sum(alpha, power)
    if _check(design, baseline, discordance) == "paired":
        q = discordance
        z_a, z_b = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(power)
        # Solve sqrt(n) * d = z_a * sqrt(q) + z_b * s for s = sqrt(q - d^2), a quadratic in s.
        root = n * (n - z_a ** 2 + z_b ** 2)
        s = math.sqrt(q) * (math.sqrt(root) - z_a * z_b) / (n + z_b ** 2) if root >= 0 else -1.0
        effect = math.sqrt(q - s * s) if 0 <= s <= math.sqrt(q) else math.inf
        if effect > q:
            raise ValueError(f"with discordance {q}, {n} items cannot reach power {power}: even if every "
                             "discordant item went one way the difference would not be detected")
        return effect
    groups = 2 if design == "two-sample" else 1
    angle = math.asin(math.sqrt(baseline)) + z * math.sqrt(groups / n) / 2
    if angle > math.pi / 2:
        raise ValueError(f"{n} items cannot detect any rise over baseline {baseline} at power {power}")
    return math.sin(angle) ** 2 - baseline


def _z_sum(alpha: float, power: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not 0.5 <= power < 1:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    return _N.inv_cdf(1 - alpha / 2) + _N.inv_cdf(power)


def _check(design: str, baseline: float, discordance: float | None) -> str:
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if design == "paired":
        if discordance is None or not 0 < discordance <= 1:
            raise ValueError(f"design='paired' needs discordance in (0, 1], got {discordance!r}")
    else:
        if discordance is not None:
            raise ValueError(f"discordance applies only to design='paired', not {design!r}")
        if not 0 <= baseline < 1:
            raise ValueError(f"baseline must be a proportion in [0, 1), got {baseline!r}")
    return design


# --- the power of a gate: what its paired test could have seen ---------------------------------------

def mcnemar_power(n: int, discordance: float, fall: float, alpha: float = 0.05, margin: float = 0.0) -> float:
    """Exact probability that McNemar's exact two-sided test at `alpha` rejects in the direction of
    a true `fall`, on n paired items of which a share `discordance` differ between the runs.

    Each item independently falls (right -> wrong) with probability (q + d) / 2, rises with
    (q - d) / 2 and agrees otherwise, q = max(discordance, fall) (a fall d needs at least d of the
    items to differ). The test rejects when 2 * P(Binomial(F + R, 1/2) <= R) < alpha for F falls,
    R rises, F > R: the gate's own rule (`mcnemar_exact`), summed exactly over the trinomial. With a
    `margin`, the observed fall (F - R) / n must also exceed it: the power of the whole noise rule.
    """
    import numpy as np

    _check_power_args(n, discordance, fall, alpha)
    q = max(discordance, fall)
    p_fall, p_rise = (q + fall) / 2, (q - fall) / 2
    falls = _likely_counts(n, p_fall)
    rises = _likely_counts(n, p_rise)
    lf = _log_factorials(n)
    f, r = falls[:, None], rises[None, :]
    rest = n - f - r
    log_pmf = (lf[n] - lf[f] - lf[r] - lf[np.maximum(rest, 0)] + (f * _log(p_fall)) + (r * _log(p_rise))
               + (rest * _log(1 - q)))
    low = int(falls[0] + rises[0])
    critical = _critical(alpha, np.arange(low, int(falls[-1] + rises[-1]) + 1))
    reject = (rest >= 0) & (f > r) & (f >= critical[f + r - low]) & (f - r > n * margin + 1e-9)
    return float(np.exp(log_pmf[reject]).sum())


def detectable_fall(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true fall McNemar's exact test detects with probability `power` (see
    `mcnemar_power`); math.inf when n items cannot reject at `alpha` even if every one fell."""
    if mcnemar_power(n, discordance, 1.0, alpha) < power:
        return math.inf
    lo, hi = 0.0, 1.0
    guess = _connor(n, max(discordance, 1.0 / n), alpha, power)
    if guess < 1.0:  # bracket around the normal approximation, then bisect to 2e-5 (0.002 points)
        lo_try, hi_try = guess * 0.8, min(1.0, guess * 1.25)
        if mcnemar_power(n, discordance, hi_try, alpha) >= power:
            hi = hi_try
            if mcnemar_power(n, discordance, lo_try, alpha) < power:
                lo = lo_try
    while hi - lo > 2e-5:
        mid = (lo + hi) / 2
        if mcnemar_power(n, discordance, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def normal_detectable(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference a two-sided test at `alpha` with standard error `se` detects
    with probability `power`: (z_{1 - alpha/2} + z_power) * se (the bootstrap gates' planning figure)."""
    return _z_sum(alpha, power) * se


def paired_items_needed(fall: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """About how many paired right/wrong items detect `fall` at this discordance (Connor 1987),
    the discordance planned as at least the fall."""
    if not 0 < fall <= 1:
        raise ValueError(f"fall must be in (0, 1], got {fall!r}")
    q = min(1.0, max(discordance, fall))
    z_a, z_b = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(power)
    return math.ceil((z_a * math.sqrt(q) + z_b * math.sqrt(max(q - fall ** 2, 0.0))) ** 2 / fall ** 2)


def items_to_show(rate: float, bound: float, side: str = "min", confidence: float = 0.95) -> int | None:
    """Items a threshold suite needs before the Wilson interval at `confidence` of an observed `rate`
    clears `bound` (lower end >= bound for side "min", upper end <= bound for "max"); None when
    that rate never clears it. A 0-failure suite against 99% needs 381 (16 items: lower end 80.6%)."""
    from .proportion import wilson, z_for_confidence

    if side not in ("min", "max"):
        raise ValueError(f"side must be 'min' or 'max', got {side!r}")
    if side == "max":
        rate, bound = 1 - rate, 1 - bound
    if not rate > bound or bound <= 0:
        return None if rate <= bound else 1
    z = z_for_confidence(confidence)

    def clears(n: int) -> bool:
        return wilson(rate * n, n, z)[0] >= bound

    hi = 1
    while not clears(hi):
        hi *= 2
        if hi > 1 << 40:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return hi


def _check_power_args(n, discordance, fall, alpha) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 <= discordance <= 1:
        raise ValueError(f"discordance must be a share in [0, 1], got {discordance!r}")
    if not 0 < fall <= 1:
        raise ValueError(f"fall must be in (0, 1], got {fall!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _connor(n: int, q: float, alpha: float, power: float) -> float:
    try:
        return min_detectable_effect(n, alpha=alpha, power=power, design="paired", discordance=min(q, 1.0))
    except ValueError:
        return 1.0


def _likely_counts(n: int, p: float):
    """The counts k of Binomial(n, p) within 8 standard deviations (and 5) of the mean: all but about 1e-15."""
    import numpy as np

    if p <= 0:
        return np.zeros(1, dtype=np.int64)
    sd = math.sqrt(n * p * (1 - p))
    lo, hi = max(0, math.floor(n * p - 8 * sd - 5)), min(n, math.ceil(n * p + 8 * sd + 5))
    return np.arange(lo, hi + 1, dtype=np.int64)


def _log(p: float) -> float:
    """log p, with 0 for p = 0 (its count is then always 0, and 0 * log 0 counts as 0)."""
    return math.log(p) if p > 0 else 0.0


_FACTORIALS: list = []
_CRITICAL: dict = {}


def _log_factorials(n: int):
    """log(k!) for k = 0..n (cached, grown as needed)."""
    import numpy as np

    if not _FACTORIALS or len(_FACTORIALS[0]) <= n:
        size = max(n + 1, 2 * len(_FACTORIALS[0]) if _FACTORIALS else 1024)
        table = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, size)))])
        _FACTORIALS[:] = [table]
    return _FACTORIALS[0]


def _critical(alpha: float, totals):
    """c[D] for each D in `totals`: the fewest falls out of D discordant items that McNemar's exact test
    (p = 2 * P(Binomial(D, 1/2) <= D - falls), as `mcnemar_exact`) rejects at `alpha`; D + 1 if none.
    Cached per alpha and D, computed only for the totals asked for."""
    import numpy as np

    known = _CRITICAL.setdefault(alpha, {})
    lf = _log_factorials(int(totals.max()) if totals.size else 0)
    log_half = math.log(0.5)
    out = np.empty(len(totals), dtype=np.int64)
    for i, d in enumerate(totals.tolist()):
        c = known.get(d)
        if c is None:
            k = np.arange(d // 2 + 1)  # rejecting needs R < D / 2
            cdf = np.cumsum(np.exp(lf[d] - lf[k] - lf[d - k] + d * log_half))
            small = np.flatnonzero(2 * cdf < alpha)
            c = known[d] = d - int(small[-1]) if small.size else d + 1
        out[i] = c
    return out
