"""Family-wise error control: adjusted p-values for a family of tests run on one checkpoint.

Ten suites gated at alpha = 0.05 each block a good checkpoint far more often than 5% of the time:
each gate is a chance to be unlucky. Adjusting the family's p-values bounds the chance that any
gate of the family rejects a true "no difference" by alpha, whatever the dependence between them.

- "holm": Holm's (1979) step-down method, the default. Sort the m p-values, p(1) <= ... <= p(m);
  the adjusted p(i) is max over j <= i of min(1, (m - j + 1) * p(j)). Never less powerful than
  Bonferroni, same guarantee.
- "bonferroni": min(1, m * p).
- "none": the raw p-values (each gate on its own, as before family-wise control).
"""

from __future__ import annotations

import math

CORRECTIONS = ("holm", "bonferroni", "none")


def adjust(p_values, method: str = "holm") -> list[float]:
    """The adjusted p-values, in the order given (as statsmodels' multipletests(..., method) gives them)."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
    ps = [float(p) for p in p_values]
    for i, p in enumerate(ps):
        if not (0.0 <= p <= 1.0) or math.isnan(p):
            raise ValueError(f"p_values[{i}] is {p!r}; p-values lie in [0, 1]")
    m = len(ps)
    if method == "none" or m == 0:
        return ps
    if method == "bonferroni":
        return [min(1.0, m * p) for p in ps]
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: ps[k])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def single_level(alpha: float, m: int, method: str = "holm") -> float:
    """The level one gate's raw p must clear when it is the family's only real change: alpha / m
    under Holm (its first step) and Bonferroni, alpha without correction. Power is planned at it."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
    return alpha if method == "none" or m <= 1 else alpha / m
