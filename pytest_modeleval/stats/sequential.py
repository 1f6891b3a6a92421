"""Anytime-valid tests of a bounded mean: look after every round, stop when decided, errors still bounded.

A fixed-size test is valid for one look at the end; looking after every round and stopping at the
first p < alpha inflates its error rate several times over. A test by betting is valid at any
stopping time: a gambler starts with wealth 1 and, item by item, bets a share lambda_i (chosen
from the items before i only) that the next value x_i lies above the null mean m,

    W_t = prod_{i <= t} (1 + lambda_i * (x_i - m)),    lambda_i in [0, c / (m - lo)],

so W_t never goes negative. Under "mean <= m", W is a nonnegative supermartingale and Ville's
inequality gives P(sup_t W_t >= 1 / alpha) <= alpha: rejecting at the first t where W_t reaches
1 / alpha, however often one looks, has error at most alpha (Waudby-Smith & Ramdas 2024, "Estimating
means of bounded random variables by betting", JRSS-B). 1 / sup W is an anytime-valid p-value.

The bet is their approximate GRAPA: lambda_i = (mu - m) / (var + (mu - m)^2), clipped to [0, c / (m - lo)]
with c = 1/2, where mu and var are the running mean and variance of the values before i (started at
m and at the squared half-range, one pseudo-item each). It bets nothing until the data lean away
from the null, and grows the bet as they do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C = 0.5  # the largest share of the maximum bet: keeps each factor >= 1/2, so a single item cannot ruin


@dataclass(frozen=True)
class Bet:
    """A one-sided betting test of a bounded mean, run over a sequence of values."""

    null: float  # the mean under the null hypothesis
    side: str  # "above": evidence that the mean exceeds `null`; "below": that it falls short of it
    lo: float = -1.0
    hi: float = 1.0

    def wealth(self, values) -> np.ndarray:
        """W_t for t = 1..n: the gambler's wealth after each value (a running product, in order)."""
        x = np.asarray(values, dtype=float)
        if x.ndim != 1:
            raise ValueError(f"Bet.wealth: values must be one-dimensional, got shape {x.shape}")
        if x.size and (x.min() < self.lo - 1e-12 or x.max() > self.hi + 1e-12):
            raise ValueError(f"Bet.wealth: values must lie in [{self.lo:g}, {self.hi:g}], got "
                             f"[{x.min():g}, {x.max():g}]")
        if self.side not in ("above", "below"):
            raise ValueError(f"Bet.side must be 'above' or 'below', got {self.side!r}")
        # "below" is "above" for the mirrored values: mean(x) < m  <=>  mean(-x) > -m
        if self.side == "below":
            x, null, lo = -x, -self.null, -self.hi
        else:
            null, lo = self.null, self.lo
        n = x.size
        if n == 0 or null <= lo:  # nothing seen, or a null at the range's end: no bet can be placed against it
            return np.ones(n)
        half_range = (self.hi - self.lo) / 2
        t = np.arange(n, dtype=float)
        before = np.concatenate(([0.0], np.cumsum(x)[:-1]))
        mu = (null + before) / (t + 1)  # the running mean of the earlier values, one pseudo-item at the null
        # the running variance: squared deviations from the mean known at each step, one pseudo-item at half_range^2
        deviations = np.concatenate(([0.0], np.cumsum((x - mu) ** 2)[:-1]))
        var = (half_range ** 2 + deviations) / (t + 1)
        lean = mu - null
        bet = np.clip(lean / (var + lean ** 2), 0.0, C / (null - lo))
        return np.exp(np.minimum(np.cumsum(np.log1p(bet * (x - null))), 700.0))  # capped: no float overflow

    def running_max(self, values) -> np.ndarray:
        """sup_{s <= t} W_s: what is compared with 1 / alpha at a look (Ville's inequality holds for the sup)."""
        return np.maximum.accumulate(self.wealth(values)) if len(values) else np.zeros(0)


def evidence(values, null: float, side: str, lo: float = -1.0, hi: float = 1.0) -> float:
    """sup_t W_t of the test that the mean lies on `side` of `null`, over all the values (1.0 for none)."""
    if not len(values):
        return 1.0
    return float(Bet(null, side, lo, hi).running_max(values)[-1])


def anytime_p(e_value: float) -> float:
    """The anytime-valid p-value of a largest wealth: min(1, 1 / sup W)."""
    return 1.0 if e_value <= 1.0 else min(1.0, 1.0 / e_value)


def bound(values, alpha: float, side: str, lo: float = -1.0, hi: float = 1.0, tol: float = 1e-4) -> float:
    """The anytime-valid confidence bound on the mean at level 1 - alpha after these values, by inverting the test.

    side "upper": the smallest m whose test of "mean >= m" (betting below m) has reached 1 / alpha, i.e. every
    larger mean is rejected; side "lower": the largest m whose test of "mean <= m" has. The wealth is monotone in
    m for these bets up to the clipping, so a bisection finds it; the range's end when nothing is rejected.
    """
    if side not in ("upper", "lower"):
        raise ValueError(f"bound: side must be 'upper' or 'lower', got {side!r}")
    target = 1.0 / alpha
    bet_side = "below" if side == "upper" else "above"

    def rejected(m: float) -> bool:
        return evidence(values, m, bet_side, lo, hi) >= target

    inner, outer = (lo, hi) if side == "upper" else (hi, lo)  # inner: rejected side never; outer: the far end
    if not rejected(_inside(outer, lo, hi)):
        return outer
    a, b = inner, outer  # not rejected at a, rejected at b
    while abs(b - a) > tol:
        mid = (a + b) / 2
        if rejected(mid):
            b = mid
        else:
            a = mid
    return b


def _inside(m: float, lo: float, hi: float) -> float:
    """A point just inside the range (a null on the range's end cannot be tested)."""
    span = hi - lo
    return min(max(m, lo + 1e-9 * span), hi - 1e-9 * span)
