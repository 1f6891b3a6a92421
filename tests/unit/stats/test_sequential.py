"""The anytime-valid tests by betting (stats/sequential.py): the wealth by hand, the error rates by simulation
with a look after every item (the worst case for optional stopping), and the bound as the test inverted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_modeleval.stats.sequential import Bet, anytime_p, bound, evidence


def falls(rng, n: int, discordance: float, fall: float) -> np.ndarray:
    """Paired falls of right/wrong items: +1 (the new run lost the item) w.p. (q + d) / 2, -1 w.p. (q - d) / 2."""
    u = rng.random(n)
    x = np.zeros(n)
    up, down = (discordance + fall) / 2, (discordance - fall) / 2
    x[u < up] = 1.0
    x[(u >= up) & (u < up + down)] = -1.0
    return x


def test_the_wealth_is_the_product_of_the_predictable_bets_computed_by_hand():
    x = [1.0, 0.0, 1.0]
    m, c = 0.1, 0.5
    wealth, mu_sum, dev_sum, expected = 1.0, 0.0, 0.0, []
    for t, value in enumerate(x):
        mu = (m + mu_sum) / (t + 1)  # one pseudo-item at the null
        var = (1.0 + dev_sum) / (t + 1)  # one pseudo-item at the squared half-range of [-1, 1]
        lam = min(max((mu - m) / (var + (mu - m) ** 2), 0.0), c / (m + 1))
        wealth *= 1 + lam * (value - m)
        expected.append(wealth)
        mu_sum += value
        dev_sum += (value - mu) ** 2
    assert Bet(m, "above").wealth(x) == pytest.approx(expected)
    assert expected[0] == 1.0 and expected[2] > expected[1]  # no bet before the data lean; then it bets and wins


def test_below_is_above_for_the_mirrored_values():
    x = np.array([-1.0, 0.0, -1.0, 0.5, -0.25])
    assert Bet(0.2, "below").wealth(x) == pytest.approx(Bet(-0.2, "above").wealth(-x))


def test_values_outside_the_range_are_refused_by_name():
    with pytest.raises(ValueError, match=r"values must lie in \[-1, 1\], got \[0, 2\]"):
        Bet(0.0, "above").wealth([0.0, 2.0])


@pytest.mark.parametrize("side", ["above", "below"])
def test_error_rate_at_the_null_is_at_most_alpha_however_often_one_looks(side):
    """300 simulated suites of 300 items with the true fall exactly at the null, a look after every item."""
    rng = np.random.default_rng(7)
    alpha, null = 0.05, 0.02
    rejected = sum(evidence(falls(rng, 300, 0.2, null), null, side) >= 1 / alpha for _ in range(300))
    # Ville's inequality bounds it by 5%; the binomial spread of 300 draws adds ~2.5 points at most
    assert rejected / 300 <= alpha + 0.025


def test_a_large_fall_is_found_long_before_the_items_run_out():
    rng = np.random.default_rng(3)
    crossed = [np.argmax(Bet(0.01, "above").running_max(falls(rng, 1000, 0.2, 0.15)) >= 20) for _ in range(50)]
    assert 0 < np.median(crossed) < 300


def test_the_bound_is_the_test_inverted_and_covers_the_mean():
    rng = np.random.default_rng(5)
    x = falls(rng, 2000, 0.2, 0.05)
    upper, lower = bound(x, 0.05, "upper"), bound(x, 0.05, "lower")
    assert lower < x.mean() < upper and lower < 0.05 < upper
    assert evidence(x, upper + 0.001, "below") >= 20 > evidence(x, upper - 0.01, "below")
    assert anytime_p(40.0) == 0.025 and anytime_p(0.5) == 1.0
    assert math.isclose(bound([], 0.05, "upper"), 1.0)
