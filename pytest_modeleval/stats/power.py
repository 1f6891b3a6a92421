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
