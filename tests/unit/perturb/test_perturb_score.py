"""The contamination score: CS by its definition, item flags only where the variants support the
one-sided test, and a suite-level test that finds a planted drop and not a null one."""

from __future__ import annotations

import random

import pytest
from scipy import stats as sps

from pytest_modeleval.perturb.score import binomial_cdf, score_item, score_suite


def test_binomial_cdf_matches_scipy():
    for n, p in ((10, 0.9), (25, 0.5), (12, 0.77)):
        for k in range(n + 1):
            assert binomial_cdf(k, n, p) == pytest.approx(sps.binom.cdf(k, n, p), rel=1e-9)


def test_item_cs_and_flags():
    memorized = score_item("a", 1.0, [1] * 5 + [0] * 5)  # right on the canonical, half the variants
    assert memorized.cs == pytest.approx(0.5) and memorized.flagged
    assert memorized.p_value == pytest.approx(sps.binom.cdf(5, 10, 0.9))
    robust = score_item("b", 1.0, [1] * 9 + [0])
    assert robust.cs == pytest.approx(0.1) and not robust.flagged
    few = score_item("c", 1.0, [0, 0, 0])  # a large drop, but 3 variants cannot support the test
    assert few.cs == 1.0 and few.p_value is None and not few.flagged
    wrong = score_item("d", 0.0, [1, 1])
    assert wrong.cs is None and not wrong.flagged
    with pytest.raises(ValueError, match="item e: no variant"):
        score_item("e", 1.0, [])


def test_suite_cs_by_definition_and_a_planted_drop():
    rng = random.Random(0)
    clean = {f"i{k}": (1.0 if k % 4 else 0.0, [1.0 if rng.random() < (0.75 if k % 4 else 0.7) else 0.0
                                                for _ in range(10)]) for k in range(200)}
    s = score_suite(clean)
    acc_b = sum(b for b, _ in clean.values()) / 200
    acc_p = sum(sum(v) / len(v) for _, v in clean.values()) / 200
    assert s.acc_baseline == pytest.approx(acc_b) and s.cs == pytest.approx((acc_b - acc_p) / acc_b)
    assert s.cs_ci[0] <= s.cs <= s.cs_ci[1]
    assert s.item_flags
    # memorized: right on every canonical item, 40% on their variants
    planted = {k: (1.0, [1.0 if rng.random() < 0.4 else 0.0 for _ in range(10)]) for k in clean}
    p = score_suite(planted)
    assert p.cs > 0.5 and p.p_value < 0.001 and p.cs_ci[0] > 0.4
    assert p.flagged_share > 0.9
    # no drop: variants as good as the canonical items
    null = {k: (1.0, [1.0] * 10) for k in clean}
    n = score_suite(null)
    assert n.cs == 0 and n.p_value > 0.5 and n.flagged_share == 0


def test_too_few_variants_gives_a_suite_verdict_only():
    s = score_suite({f"i{k}": (1.0, [0.0, 1.0, 0.0]) for k in range(30)})
    assert not s.item_flags and s.flagged_share is None
    assert s.cs == pytest.approx(2 / 3) and s.p_value < 0.01
