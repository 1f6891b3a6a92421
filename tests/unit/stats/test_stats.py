"""pytest_modeleval.stats against scipy and statsmodels, by hypothesis properties, and by simulated coverage.

scipy and statsmodels are dev dependencies: the package itself only uses numpy and the standard
library, so every formula here is checked against an independent implementation. Simulations are
seeded and hypothesis is derandomized, so nothing here can flake.
"""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_modeleval.stats import (
    Estimate,
    PairedDiff,
    TestResult,
    bootstrap_ci,
    clustered_se,
    cohen_kappa,
    mcnemar_exact,
    min_detectable_effect,
    normal_ci,
    normal_p_value,
    paired_bootstrap_diff,
    pass_at_k,
    sample_size_for_effect,
    source_items,
    wilson,
    wilson_estimate,
    z_for_confidence,
    z_test,
)

scipy_stats = pytest.importorskip("scipy.stats")
sm = pytest.importorskip("statsmodels.api")
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)
scores_st = st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=60)
outcomes_st = st.lists(st.booleans(), min_size=1, max_size=80)


def clustered_data(rng, n_clusters, size, rho=0.5):
    """Scores in [0, 1] sharing a per-cluster component: items in a cluster are correlated."""
    shared = rng.random(n_clusters).repeat(size)
    return rho * shared + (1 - rho) * rng.random(n_clusters * size), np.arange(n_clusters).repeat(size)


# --- the lazy package ---------------------------------------------------------------------------

def test_wilson_alone_does_not_import_numpy():
    """The end-of-run table imports wilson; a run should not pay for numpy to print it."""
    code = "import sys; from pytest_modeleval.stats import wilson; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_unknown_name_is_an_attribute_error():
    from pytest_modeleval import stats

    with pytest.raises(AttributeError, match="no_such"):
        _ = stats.no_such


# --- Wilson and the normal distribution --------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 1), (0, 3), (4, 12), (5, 5), (180, 200), (1, 10_000), (5_000, 10_000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(k, n, confidence):
    expected = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    estimate = wilson_estimate(k, n, confidence=confidence)
    assert (estimate.lo, estimate.hi) == pytest.approx(expected, abs=1e-12)
    assert estimate.value == k / n and estimate.confidence == confidence
    assert estimate.se == pytest.approx(math.sqrt(k / n * (1 - k / n) / n))
    if confidence == 0.95:
        assert wilson(k, n) == pytest.approx(expected, abs=1e-12)


def test_wilson_keeps_its_old_contract():
    assert all(math.isnan(v) for v in wilson(0, 0))
    with pytest.raises(ValueError, match="successes=5, n=4"):
        wilson(5, 4)
    with pytest.raises(ValueError, match="n > 0"):
        wilson_estimate(0, 0)


@given(st.integers(1, 5_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.5, 0.999))
@PROPERTY
def test_wilson_stays_in_0_1_around_the_estimate(kn, confidence):
    k, n = kn
    e = wilson_estimate(k, n, confidence=confidence)
    assert 0 <= e.lo <= e.value <= e.hi <= 1
    assert e.hi - e.lo > 0


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.999])
def test_normal_quantiles_and_p_values_match_scipy(confidence):
    assert z_for_confidence(confidence) == pytest.approx(scipy_stats.norm.ppf(0.5 + confidence / 2), rel=1e-12)
    for z in (0.0, 0.5, -1.96, 3.0, 12.0):
        assert normal_p_value(z) == pytest.approx(2 * scipy_stats.norm.sf(abs(z)), rel=1e-12)
    result = z_test(0.62, 0.02, null=0.6)
    assert result.statistic == pytest.approx(1.0) and result.p_value == pytest.approx(2 * scipy_stats.norm.sf(1.0))


def test_normal_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="confidence"):
        z_for_confidence(95)
    with pytest.raises(ValueError, match="se=0"):
        z_test(0.5, 0)
    with pytest.raises(ValueError, match="nan"):
        normal_p_value(math.nan)


# --- bootstrap against scipy.stats.bootstrap ---------------------------------------------------

def scipy_interval(data, statistic, method, paired=False, n_resamples=10_000):
    res = scipy_stats.bootstrap(data, statistic, n_resamples=n_resamples, method=method, paired=paired,
                                vectorized=True, rng=np.random.default_rng(1))
    return res.confidence_interval, res.standard_error


def mean_stat(x, axis=-1):
    return x.mean(axis=axis)


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_bootstrap_ci_matches_scipy(method, kind):
    """Same method, different random draws: agreement within a tenth of a standard error."""
    rng = np.random.default_rng(7)
    x = rng.beta(2, 5, 300) if kind == "continuous" else (rng.random(300) < 0.8).astype(float)
    ours = bootstrap_ci(x, method=method, seed=3)
    ci, se = scipy_interval((x,), mean_stat, "BCa" if method == "bca" else method)
    tol = 0.1 * se if kind == "continuous" else max(0.1 * se, 1 / len(x))  # 0/1: means on a 1/n grid
    assert ours.value == pytest.approx(x.mean())
    assert ours.lo == pytest.approx(ci.low, abs=tol)
    assert ours.hi == pytest.approx(ci.high, abs=tol)
    assert ours.se == pytest.approx(se, rel=0.05)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_cluster_bootstrap_matches_scipy_on_cluster_totals(method):
    """A cluster bootstrap is scipy's paired bootstrap of (cluster sums, cluster sizes) for sum / sum."""
    rng = np.random.default_rng(11)
    x, clusters = clustered_data(rng, 80, 3)
    x, clusters = x[:-1], clusters[:-1]  # one cluster of 2: unequal sizes
    sums, sizes = np.bincount(clusters, weights=x), np.bincount(clusters).astype(float)
    ci, se = scipy_interval((sums, sizes), lambda s, m, axis=-1: s.sum(axis) / m.sum(axis),
                            "BCa" if method == "bca" else method, paired=True)
    ours = bootstrap_ci(x, clusters=[f"c{c}" for c in clusters], method=method, seed=5)
    assert ours.lo == pytest.approx(ci.low, abs=0.1 * se)
    assert ours.hi == pytest.approx(ci.high, abs=0.1 * se)
    assert ours.se == pytest.approx(se, rel=0.05)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_paired_diff_matches_scipy_paired_bootstrap(method):
    rng = np.random.default_rng(13)
    a = (rng.random(400) < 0.7).astype(float)
    b = np.where(rng.random(400) < 0.85, a, 1 - a)  # mostly the same items right
    ci, se = scipy_interval((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                            "BCa" if method == "bca" else method, paired=True)
    ours = paired_bootstrap_diff(a, b, method=method, seed=2)
    step = 1 / len(a)  # 0/1 outcomes: resampled differences lie on a grid of 1/n, so may their quantiles
    assert ours.diff.value == pytest.approx(a.mean() - b.mean())
    assert ours.diff.lo == pytest.approx(ci.low, abs=max(0.1 * se, step))
    assert ours.diff.hi == pytest.approx(ci.high, abs=max(0.1 * se, step))
    assert (ours.n_items, ours.n_clusters) == (400, 400)


def test_paired_p_value_agrees_with_the_interval_and_with_mcnemar():
    rng = np.random.default_rng(17)
    a = rng.random(500) < 0.72
    b = np.where(rng.random(500) < 0.1, ~a, a) & (rng.random(500) < 0.97)
    paired = paired_bootstrap_diff(a, b, seed=0)
    excludes_zero = paired.diff.lo > 0 or paired.diff.hi < 0
    assert (paired.p_value < 0.05) == excludes_zero
    assert paired.p_value == pytest.approx(mcnemar_exact(a, b).p_value, abs=0.02)


def test_paired_diff_of_identical_runs_is_exactly_zero():
    a = np.array([1, 0, 1, 1, 0.5])
    result = paired_bootstrap_diff(a, a.copy(), seed=1)
    assert result == PairedDiff(Estimate(0.0, 0.0, 0.0, 0.0), 1.0, 5, 5)


@given(scores_st, st.integers(0, 2**32 - 1), st.sampled_from(["percentile", "bca"]))
@PROPERTY
def test_bootstrap_interval_brackets_the_mean_within_the_data(values, seed, method):
    x = np.array(values)
    e = bootstrap_ci(x, n_resamples=300, seed=seed, method=method)
    assert x.min() - 1e-12 <= e.lo <= e.value + 1e-12
    assert e.value - 1e-12 <= e.hi <= x.max() + 1e-12
    assert e == bootstrap_ci(x, n_resamples=300, seed=seed, method=method)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 5)), min_size=2, max_size=60),
       st.integers(0, 2**32 - 1), st.sampled_from(["percentile", "bca"]))
@PROPERTY
def test_swapping_the_runs_negates_the_difference_exactly(rows, seed, method):
    a, b, clusters = (np.array(col) for col in zip(*rows))
    clusters = None if len(set(clusters)) < 2 else clusters
    ab = paired_bootstrap_diff(a, b, clusters=clusters, n_resamples=300, seed=seed, method=method)
    ba = paired_bootstrap_diff(b, a, clusters=clusters, n_resamples=300, seed=seed, method=method)
    assert ba.diff == Estimate(-ab.diff.value, -ab.diff.hi, -ab.diff.lo, ab.diff.se)
    assert ba.p_value == ab.p_value
    assert 0 < ab.p_value <= 1


def test_bootstrap_seed_controls_the_draws():
    x = np.random.default_rng(0).random(50)
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert bootstrap_ci(x, seed=1) != bootstrap_ci(x, seed=2)
    assert bootstrap_ci(x, seed=np.random.default_rng(4)) == bootstrap_ci(x, seed=4)


@pytest.mark.parametrize("kwargs,match", [
    ({"method": "basic"}, "method must be one of"),
    ({"n_resamples": 1}, "n_resamples must be an integer >= 2"),
    ({"confidence": 1.0}, "confidence must be in"),
    ({"clusters": [0, 0, 0]}, "at least 2 items or clusters"),
    ({"clusters": [0, 1]}, r"one label per item \(3\)"),
])
def test_bootstrap_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci([0.1, 0.5, 0.9], **kwargs)


def test_bad_scores_are_named():
    with pytest.raises(ValueError, match=r"scores\[1\] is nan"):
        bootstrap_ci([0.1, math.nan, 0.9])
    with pytest.raises(ValueError, match="scores is empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        paired_bootstrap_diff([1, 0, 1], [1, 0])
    with pytest.raises(TypeError, match="b must be numbers"):
        paired_bootstrap_diff([1, 0], ["x", "y"])


# --- clustered standard errors -----------------------------------------------------------------

def test_clustered_se_matches_statsmodels_cluster_robust_ols():
    rng = np.random.default_rng(21)
    x, clusters = clustered_data(rng, 60, 4)
    keep = rng.random(len(x)) < 0.85  # unequal cluster sizes
    x, clusters = x[keep], clusters[keep]
    fit = sm.OLS(x, np.ones((len(x), 1))).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    assert clustered_se(x, clusters) == pytest.approx(fit.bse[0], rel=1e-10)
    ordinary = sm.OLS(x, np.ones((len(x), 1))).fit()
    assert clustered_se(x) == pytest.approx(ordinary.bse[0], rel=1e-10)
    assert clustered_se(x) == pytest.approx(x.std(ddof=1) / math.sqrt(len(x)), rel=1e-12)


def test_uncorrected_clustered_se_is_millers_formula():
    """SE_CLT^2 (plain 1/n variance) plus (1/n^2) * sum over clusters of sum_{i != j} e_i e_j."""
    rng = np.random.default_rng(22)
    x, clusters = clustered_data(rng, 30, 3)
    e, n = x - x.mean(), len(x)
    cross = sum(e[i] * e[j] for c in range(30) for i in np.flatnonzero(clusters == c)
                for j in np.flatnonzero(clusters == c) if i != j)
    expected = math.sqrt(np.mean(e ** 2) / n + cross / n ** 2)
    assert clustered_se(x, clusters, correction=False) == pytest.approx(expected, rel=1e-10)


def test_normal_ci_uses_the_clustered_se():
    rng = np.random.default_rng(23)
    x, clusters = clustered_data(rng, 40, 2)
    e = normal_ci(x, clusters=clusters, confidence=0.9)
    se = clustered_se(x, clusters)
    z = scipy_stats.norm.ppf(0.95)
    assert (e.value, e.lo, e.hi, e.se) == pytest.approx((x.mean(), x.mean() - z * se, x.mean() + z * se, se))


@given(scores_st, st.lists(st.integers(0, 9), min_size=60, max_size=60))
@PROPERTY
def test_clustered_se_ignores_how_clusters_are_named(values, labels):
    x = np.array(values)
    labels = labels[: len(x)]
    if len(set(labels)) < 2:
        return
    renamed = [f"source-{9 - c}" for c in labels]
    assert clustered_se(x, labels) == pytest.approx(clustered_se(x, renamed), rel=1e-12, abs=1e-15)
    assert clustered_se(x, labels) >= 0


def test_clusters_from_item_ids():
    assert source_items(["gsm8k-0042-p0", "gsm8k-0042-p1", "mmlu-q-p7-p0", "odd"]) == [
        "gsm8k-0042", "gsm8k-0042", "mmlu-q-p7", "odd"]
    with pytest.raises(ValueError, match="at least 2 clusters"):
        clustered_se([0.0, 1.0], source_items(["s-1-p0", "s-1-p1"]))


# --- McNemar -----------------------------------------------------------------------------------

def outcome_pairs(n11, n10, n01, n00):
    a = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00, dtype=bool)
    b = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00, dtype=bool)
    return a, b


@pytest.mark.parametrize("table", [(50, 0, 0, 50), (30, 1, 6, 10), (10, 7, 7, 3), (100, 40, 25, 80),
                                   (0, 1, 0, 0), (500, 1_300, 1_200, 400), (5, 300, 0, 5)])
def test_mcnemar_matches_statsmodels_and_binomtest(table):
    n11, n10, n01, n00 = table
    ours = mcnemar_exact(*outcome_pairs(*table))
    ref = sm_mcnemar([[n11, n10], [n01, n00]], exact=True)
    assert ours.statistic == ref.statistic
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    if n10 + n01:
        binom = scipy_stats.binomtest(n10, n10 + n01, 0.5).pvalue
        assert ours.p_value == pytest.approx(binom, rel=1e-9, abs=1e-300)


def test_mcnemar_takes_0_1_and_names_bad_values():
    assert mcnemar_exact([1, 0, 1], [0, 0, 1]) == TestResult(0.0, 1.0)
    with pytest.raises(ValueError, match=r"b_correct\[1\] is 2"):
        mcnemar_exact([1, 0, 1], [1, 2, 0])
    with pytest.raises(ValueError, match="a_correct has 2, b_correct has 3"):
        mcnemar_exact([1, 0], [1, 0, 1])


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=200))
@PROPERTY
def test_mcnemar_is_symmetric_and_a_probability(pairs):
    a, b = (np.array(col) for col in zip(*pairs))
    assert mcnemar_exact(a, b) == mcnemar_exact(b, a)
    assert 0 < mcnemar_exact(a, b).p_value <= 1


# --- Cohen's kappa -----------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [["pass", "fail"], ["A", "B", "C"]])
def test_cohen_kappa_matches_statsmodels(labels):
    rng = np.random.default_rng(31)
    r1 = rng.choice(labels, 250)
    r2 = np.where(rng.random(250) < 0.7, r1, rng.choice(labels, 250))
    table = np.array([[np.sum((r1 == i) & (r2 == j)) for j in labels] for i in labels])
    ref = sm_kappa(table)
    ours = cohen_kappa(r1, r2)
    assert ours.value == pytest.approx(ref.kappa, rel=1e-12)
    assert ours.se == pytest.approx(ref.std_kappa, rel=1e-10)
    assert (ours.lo, ours.hi) == pytest.approx((ref.kappa_low, ref.kappa_upp), rel=1e-10)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]).value == 1.0
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]).value == 0.0
    with pytest.raises(ValueError, match="undefined"):
        cohen_kappa(["yes"] * 4, ["yes"] * 4)
    with pytest.raises(ValueError, match="rater1 has 2, rater2 has 1"):
        cohen_kappa([1, 0], [1])


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=100))
@PROPERTY
def test_cohen_kappa_is_symmetric_and_at_most_1(pairs):
    r1, r2 = (np.array(col) for col in zip(*pairs))
    if len(set(r1.tolist()) | set(r2.tolist())) < 2:
        return
    k12, k21 = cohen_kappa(r1, r2), cohen_kappa(r2, r1)
    assert k12.value == pytest.approx(k21.value, abs=1e-12)
    assert k12.se == pytest.approx(k21.se, abs=1e-12)
    assert -1 <= k12.value <= 1 + 1e-12


# --- pass@k ------------------------------------------------------------------------------------

def codex_pass_at_k(n, c, k):
    """The estimator as the Codex paper's code writes it."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@pytest.mark.parametrize("n,c,k", [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (10, 3, 8), (200, 1, 1),
                                   (200, 7, 10), (200, 7, 100), (1000, 999, 2)])
def test_pass_at_k_matches_the_codex_code_and_exact_fractions(n, c, k):
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == float(exact)
    assert pass_at_k(n, c, k) == pytest.approx(codex_pass_at_k(n, c, k), rel=1e-12, abs=1e-15)
    if k == 1:
        assert pass_at_k(n, c, k) == pytest.approx(c / n)


def test_pass_at_k_is_vectorized_over_tasks():
    n, c = np.array([20, 20, 5, 5]), np.array([0, 3, 5, 1])
    values = pass_at_k(n, c, 5)
    assert isinstance(values, np.ndarray) and values.shape == (4,)
    assert values.tolist() == [pass_at_k(int(a), int(b), 5) for a, b in zip(n, c)]
    assert pass_at_k([10, 10], [2, 2], [1, 10]).tolist() == [0.2, 1.0]


@pytest.mark.parametrize("args,match", [((5, 2, 6), r"k <= n"), ((5, 6, 1), "0 <= c <= n"), ((5, 2, 0), "k >= 1"),
                                        (([5, 3], [1, 1], 4), r"k=4 \(task 1\)")])
def test_pass_at_k_rejects_impossible_counts(args, match):
    with pytest.raises(ValueError, match=match):
        pass_at_k(*args)


def test_pass_at_k_rejects_fractional_counts():
    with pytest.raises(TypeError, match="n must be whole numbers"):
        pass_at_k(5.5, 1, 1)


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
@PROPERTY
def test_pass_at_k_grows_with_correct_samples_and_with_k(nck):
    n, c, k = nck
    p = pass_at_k(n, c, k)
    assert 0 <= p <= 1
    if c < n:
        assert pass_at_k(n, c + 1, k) >= p
    if k < n:
        assert pass_at_k(n, c, k + 1) >= p
    assert (p == 0) == (c == 0)


# --- power -------------------------------------------------------------------------------------

@pytest.mark.parametrize("design,ratio", [("one-sample", 0), ("two-sample", 1)])
@pytest.mark.parametrize("baseline,effect", [(0.5, 0.05), (0.5, 0.1), (0.7, 0.05), (0.1, 0.03)])
def test_sample_size_matches_statsmodels(design, ratio, baseline, effect):
    h = proportion_effectsize(baseline + effect, baseline)
    expected = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=ratio)
    assert sample_size_for_effect(effect, baseline=baseline, design=design) == math.ceil(expected - 1e-6)
    n = math.ceil(expected)
    reached = NormalIndPower().power(proportion_effectsize(baseline + min_detectable_effect(
        n, baseline=baseline, design=design), baseline), nobs1=n, alpha=0.05, ratio=ratio)
    assert reached == pytest.approx(0.8, abs=1e-4)


def test_the_specs_rule_of_thumb_holds_only_for_close_paired_runs():
    """n >= 200 for 5 points: true for a paired comparison with <= 6.4% discordant items, not otherwise."""
    assert min_detectable_effect(200, design="paired", discordance=0.064) <= 0.05
    assert min_detectable_effect(200, design="paired", discordance=0.065) > 0.05
    assert sample_size_for_effect(0.05, design="paired", discordance=0.064) <= 200
    assert sample_size_for_effect(0.05) == 783  # one win rate against 50%
    assert sample_size_for_effect(0.05, design="two-sample") == 1565  # per group
    assert min_detectable_effect(200) == pytest.approx(0.098, abs=0.001)


def test_paired_sample_size_gives_its_power_in_simulation():
    """At the size the helper gives, McNemar's z-test rejects in about 80% of simulated suites."""
    q, effect = 0.15, 0.05
    n = sample_size_for_effect(effect, design="paired", discordance=q)
    rng = np.random.default_rng(41)
    only_a, only_b, _ = rng.multinomial(n, [(q + effect) / 2, (q - effect) / 2, 1 - q], size=4_000).T
    z = (only_a - only_b) / np.sqrt(np.maximum(only_a + only_b, 1))
    assert np.mean(np.abs(z) > 1.959963984540054) == pytest.approx(0.8, abs=0.03)
    assert min_detectable_effect(n, design="paired", discordance=q) == pytest.approx(effect, abs=5e-4)


@given(st.integers(10, 100_000), st.floats(0.05, 0.9), st.sampled_from(["one-sample", "two-sample"]))
@PROPERTY
def test_size_and_effect_are_inverses(n, baseline, design):
    effect = min_detectable_effect(n, baseline=baseline, design=design)
    assert 0 < effect <= 1 - baseline
    if effect < 1 - baseline - 1e-9:
        assert sample_size_for_effect(effect * (1 + 1e-9), baseline=baseline, design=design) <= n
        assert min_detectable_effect(2 * n, baseline=baseline, design=design) < effect


@pytest.mark.parametrize("kwargs,match", [
    ({"design": "paired"}, "needs discordance"),
    ({"discordance": 0.1}, "applies only to design='paired'"),
    ({"design": "crossover"}, "design must be one of"),
    ({"power": 0.3}, "power must be in"),
    ({"design": "paired", "discordance": 0.03}, "cannot exceed the discordance"),
])
def test_power_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_size_for_effect(0.05, **kwargs)


def test_too_few_items_to_detect_anything_is_an_error():
    with pytest.raises(ValueError, match="cannot reach power"):
        min_detectable_effect(3, design="paired", discordance=0.05)
    with pytest.raises(ValueError, match="cannot detect any rise"):
        min_detectable_effect(2, baseline=0.9)


# --- coverage by simulation --------------------------------------------------------------------

def coverage(intervals, truth):
    return np.mean([e.lo <= truth <= e.hi for e in intervals])


def test_wilson_covers_95_percent():
    rng = np.random.default_rng(51)
    hits = rng.binomial(80, 0.3, size=1_000)
    assert 0.93 <= coverage([wilson_estimate(int(k), 80) for k in hits], 0.3) <= 0.97


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_covers_95_percent(method):
    rng = np.random.default_rng(52)
    datasets = rng.beta(2, 5, size=(1_000, 100))
    intervals = [bootstrap_ci(x, n_resamples=1_000, seed=i, method=method) for i, x in enumerate(datasets)]
    assert 0.93 <= coverage(intervals, 2 / 7) <= 0.97


def test_cluster_bootstrap_covers_where_the_item_bootstrap_does_not():
    """Correlated variants: resampling items claims too much precision, resampling clusters does not."""
    rng = np.random.default_rng(53)
    data = [clustered_data(rng, 100, 4, rho=0.7) for _ in range(1_000)]
    by_cluster = [bootstrap_ci(x, clusters=c, n_resamples=1_000, seed=i) for i, (x, c) in enumerate(data)]
    by_item = [bootstrap_ci(x, n_resamples=1_000, seed=i) for i, (x, _) in enumerate(data)]
    by_normal = [normal_ci(x, clusters=c) for x, c in data]
    assert 0.93 <= coverage(by_cluster, 0.5) <= 0.97
    assert 0.93 <= coverage(by_normal, 0.5) <= 0.97
    assert coverage(by_item, 0.5) < 0.85


def test_paired_tests_reject_5_percent_of_the_time_under_no_difference():
    """Two runs drawn from the same model: about 5% of bootstrap p-values fall below 0.05, and the
    exact McNemar test (conservative by construction) rejects no more than that."""
    rng = np.random.default_rng(54)
    skill = rng.random((1_000, 200))
    a, b = rng.random((1_000, 200)) < skill, rng.random((1_000, 200)) < skill
    boot = [paired_bootstrap_diff(x, y, n_resamples=1_000, seed=i).p_value for i, (x, y) in enumerate(zip(a, b))]
    exact = [mcnemar_exact(x, y).p_value for x, y in zip(a, b)]
    assert 0.03 <= np.mean(np.array(boot) < 0.05) <= 0.07
    assert np.mean(np.array(exact) < 0.05) <= 0.06
