"""pass^k, the flaky share and their intervals over items (stats/repeated.py; issue 29, part 2)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from pytest_modeleval.stats import bootstrap_ci, pass_at_k, pass_hat_k, repeated_samples, wilson


def by_enumeration(n: int, c: int, k: int) -> Fraction:
    """The share of the k-subsets of n samples (c right) that are all right: the definition of pass^k."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return Fraction(sum(all(s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_pass_hat_k_is_the_share_of_k_subsets_all_right(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_hat_k(n, c, k) == pytest.approx(float(by_enumeration(n, c, k)), abs=1e-15)
    assert pass_hat_k(n, n, n) == 1.0 and (n == 1 or pass_hat_k(n, n - 1, n) == 0.0)


def test_pass_hat_k_checks_its_counts():
    with pytest.raises(ValueError, match="k <= n"):
        pass_hat_k(3, 1, 4)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_hat_k(3, 4, 1)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_hat_k(3, 1, 0)
    with pytest.raises(TypeError, match="whole number"):
        pass_hat_k(3, 1.5, 1)


def test_repeated_samples_by_hand():
    """Six items of four samples: 14 of 24 right, 5 items with one right, 2 all right, 3 mixed."""
    outcomes = [[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1], [1, 1, 0, 1]]
    figures = repeated_samples(outcomes, 4)
    assert (figures.items, figures.samples) == (6, 4)
    assert figures.pass_at_1.value == pytest.approx(14 / 24)
    assert figures.pass_at_k.value == pytest.approx(5 / 6)
    assert figures.pass_hat_k.value == pytest.approx(2 / 6) and figures.flaky.value == pytest.approx(3 / 6)
    # 0/1 per item on independent items: Wilson over the 6 items
    assert (figures.pass_hat_k.lo, figures.pass_hat_k.hi) == pytest.approx(wilson(2, 6))
    assert (figures.flaky.lo, figures.flaky.hi) == pytest.approx(wilson(3, 6))
    assert (figures.pass_at_k.lo, figures.pass_at_k.hi) == pytest.approx(wilson(5, 6))
    # pass@1: the bootstrap of the 24 samples clustered by item, which is the bootstrap of the per-item shares
    flat = [v for item in outcomes for v in item]
    clustered = bootstrap_ci(flat, clusters=[i // 4 for i in range(24)], seed=0)
    assert figures.pass_at_1 == clustered == bootstrap_ci([sum(item) / 4 for item in outcomes], seed=0)


def test_pass_at_k_below_k_uses_the_unbiased_estimator():
    """pass@2 of an item with 1 right of 4 is 1 - C(3, 2) / C(4, 2) = 1/2, not the 1/4 of one sample."""
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)


def test_clusters_of_items_widen_the_interval():
    """Items that are variants of one row resample together (source rows, as stats.source_items gives them)."""
    outcomes = [[1, 1], [1, 1], [0, 0], [0, 0], [1, 0], [0, 1]] * 3
    apart = repeated_samples(outcomes, 2)
    together = repeated_samples(outcomes, 2, clusters=[i // 2 for i in range(len(outcomes))])
    assert together.pass_hat_k.value == apart.pass_hat_k.value
    assert together.pass_hat_k.hi - together.pass_hat_k.lo > apart.pass_hat_k.hi - apart.pass_hat_k.lo


def test_one_item_has_no_interval_to_resample():
    figures = repeated_samples([[1, 0, 1]], 3)
    assert figures.pass_at_1.value == pytest.approx(2 / 3) and math.isnan(figures.pass_at_1.lo)


@pytest.mark.parametrize("outcomes, k, message", [
    ([[1, 0]], 1, "k >= 2"),
    ([], 2, "at least one item"),
    ([[1, 0, 1]], 2, "item 0 must have 2 outcomes"),
    ([[1, 2]], 2, "of 0 or 1"),
])
def test_repeated_samples_names_bad_input(outcomes, k, message):
    with pytest.raises(ValueError, match=message):
        repeated_samples(outcomes, k)
