"""What a gate could have seen: the smallest fall a regression gate detects, and what a threshold
suite can show, so a passing gate says whether it could have failed.

A regression gate plans its power at the level its raw p must clear when its suite is the run's only
real change (`stats.multiplicity.single_level`: alpha / m under Holm and Bonferroni), 80% power, its
own paired n and the discordance (or, for graded values, the spread of the differences) it observed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POWER = 0.8


@dataclass(frozen=True)
class Power:
    detectable: float  # the smallest true fall detected with 80% power; math.inf when none is
    needed_n: int | None  # paired items for a fall of the margin to be detected; None when the margin is 0
    level: float  # the alpha the power is planned at


def regression_power(cmp, margin: float, level: float) -> Power:
    """Power of the paired test the gate ran: exact McNemar power for right/wrong items, the normal
    approximation with the bootstrap's standard error of the difference otherwise."""
    from ..stats.power import detectable_fall, normal_detectable, paired_items_needed

    if cmp.discordance is not None:
        detectable = detectable_fall(cmp.n, cmp.discordance, level, POWER)
        needed = paired_items_needed(margin, cmp.discordance, level, POWER) if margin > 0 else None
        return Power(detectable, needed, level)
    if cmp.se is None or cmp.n_clusters < 2:
        return Power(math.inf, None, level)
    se = max(cmp.se, 1e-12)
    detectable = normal_detectable(se, level, POWER)
    # the standard error shrinks as 1 / sqrt(n) with more items of the same kind (variants per row kept)
    needed = math.ceil(cmp.n * (detectable / margin) ** 2) if margin > 0 else None
    return Power(detectable, needed, level)


def threshold_shows(rule, mean: float, n: int, ci, method: str | None, proportion: bool) -> tuple[str, int | None]:
    """(sentence, items needed): whether the interval clears each bound of the rule, and if not how many
    items at the observed rate it would take (Wilson intervals only)."""
    from ..stats.power import items_to_show
    from .display import fmt

    if ci is None:
        return f"{n} item cannot show any bound", None
    level = f"{100 * rule.confidence:g}%"
    parts, needed = [], None
    for side, limit, bound in (("min", rule.min, ci[0]), ("max", rule.max, ci[1])):
        if limit is None:
            continue
        sign, end = (">=", "lower") if side == "min" else ("<=", "upper")
        if (bound >= limit) if side == "min" else (bound <= limit):
            parts.append(f"it shows {sign} {fmt(limit, proportion)} (the {level} {method} {end} bound is "
                         f"{fmt(bound, proportion)})")
            continue
        text = (f"it cannot show {sign} {fmt(limit, proportion)}: the {level} {method} {end} bound of {n} "
                f"items is {fmt(bound, proportion)}")
        if method == "Wilson":
            count = items_to_show(mean, limit, side, rule.confidence)
            clean = mean == (1.0 if side == "min" else 0.0)
            rate = "0 failures" if clean else f"its rate of {fmt(mean, proportion)}"
            if count is None:
                text += f"; at {rate} no number of items would"
            else:
                text += f"; at {rate} it takes {count:,} items"
                needed = max(needed or 0, count)
        parts.append(text)
    return "; ".join(parts), needed
