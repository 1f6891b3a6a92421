"""A samples=K suite in the gates (gates/samples.py, through evaluate.item_values; issue 29, part 2): the K
samples of an item are one item, with pass^k, flaky and pass@k beside the per-item mean."""

from __future__ import annotations

import pytest

from pytest_modeleval.gates import rules
from pytest_modeleval.gates.baseline import Baseline
from pytest_modeleval.gates.evaluate import evaluate, item_values
from pytest_modeleval.stats import source_items


def sampled(suite: str, outcomes: list[list[int]], *, scores: list[list[float]] | None = None) -> list[dict]:
    """Rows of a K-sample suite: item i's sample k is right (1), wrong (0) or an error (None)."""
    rows = []
    for i, item in enumerate(outcomes):
        for k, right in enumerate(item):
            outcome = "error" if right is None else ("correct" if right else "wrong")
            score = None if right is None else (scores[i][k] if scores else float(right))
            rows.append({"suite": suite, "item_id": f"{suite}-{i:04d}-p0-s{k}", "outcome": outcome, "score": score,
                         "metrics": None if right is None else {"tokens": 10.0 * (k + 1)}})
    return rows


def test_an_item_is_its_k_samples_folded():
    rows = sampled("s", [[1, 1, 1], [0, 1, 0], [0, 0, 0]], scores=[[1, 1, 1], [0.5, 1, 0], [0, 0, 0.3]])
    values, suites = item_values(rows)
    per = values["s"]
    assert suites == {"s"} and set(per["score"]) == {"s-0000-p0", "s-0001-p0", "s-0002-p0"}
    assert per["score"]["s-0001-p0"] == pytest.approx(0.5) and per["score"]["s-0002-p0"] == pytest.approx(0.1)
    assert per["accuracy"] == {"s-0000-p0": 1.0, "s-0001-p0": pytest.approx(1 / 3), "s-0002-p0": 0.0}
    assert per["tokens"]["s-0000-p0"] == pytest.approx(20.0)  # any recorded metric: its mean over the samples
    assert per["pass^k"] == {"s-0000-p0": 1.0, "s-0001-p0": 0.0, "s-0002-p0": 0.0}
    assert per["flaky"] == {"s-0000-p0": 0.0, "s-0001-p0": 1.0, "s-0002-p0": 0.0}
    assert per["pass@1"]["s-0001-p0"] == pytest.approx(1 / 3)
    assert per["pass@2"]["s-0001-p0"] == pytest.approx(2 / 3)  # 1 - C(2, 2) / C(3, 2)
    assert per["pass@3"] == per["pass@k"] == {"s-0000-p0": 1.0, "s-0001-p0": 1.0, "s-0002-p0": 0.0}


def test_an_item_with_an_errored_sample_gets_no_all_k_metrics():
    """An error is no evidence about the item: its mean is over the answered samples, and pass^k, flaky and
    pass@k need all K answered (K: the sample indices of the suite's rows, errors included)."""
    per = item_values(sampled("s", [[1, None, 1], [1, 0, 1]]))[0]["s"]
    assert per["score"]["s-0000-p0"] == 1.0
    assert set(per["pass^k"]) == set(per["flaky"]) == set(per["pass@3"]) == {"s-0001-p0"}


def test_suites_without_samples_are_untouched():
    rows = [{"suite": "plain", "item_id": "plain-0000-p0", "outcome": "correct", "score": 1.0, "metrics": None},
            {"suite": "plain", "item_id": "plain-0000-p1", "outcome": "wrong", "score": 0.0, "metrics": None}]
    per = item_values(rows + sampled("s", [[1, 0]]))[0]
    assert per["plain"]["score"] == {"plain-0000-p0": 1.0, "plain-0000-p1": 0.0} and "pass^k" not in per["plain"]
    assert per["s"]["flaky"] == {"s-0000-p0": 1.0}


def test_rules_on_pass_hat_k_and_flaky_gate_items_not_samples():
    config = rules.parse({"always": {"metric": "pass^k", "min": 0.5}, "steady": {"metric": "flaky", "max": 0.25},
                          "no-regression": False})
    report = evaluate(config, sampled("s", [[1, 1], [1, 1], [0, 1], [0, 0]]))
    got = {r.rule.name: r for r in report.results}
    assert (got["always"].verdict, got["always"].n, got["always"].value) == ("pass", 4, 0.5)
    assert (got["steady"].verdict, got["steady"].value, got["steady"].ci_method) == ("pass", 0.25, "Wilson")


def test_the_regression_gate_pairs_per_item_means():
    """A cluster design: 40 items of 5 samples each are 40 paired items (the bootstrap of per-item means), not
    200 independent right/wrong samples (McNemar's test)."""
    before = [[1, 1, 1, 1, 0]] * 40
    after = [[1, 1, 1, 0, 0]] * 20 + [[1, 1, 1, 1, 0]] * 20
    config = rules.parse({})
    report = evaluate(config, sampled("s", after), Baseline(1, "a" * 64, "run 1", sampled("s", before)))
    (gate,) = [r for r in report.results if r.rule.name == "no-regression"]
    assert (gate.n, gate.test) == (40, "paired bootstrap")
    assert gate.baseline_value == pytest.approx(0.8) and gate.value == pytest.approx(0.7)


def test_a_baseline_with_one_sample_per_item_pairs_with_the_per_item_mean():
    """Ids without the sample suffix are the folded ids: a K-sample run compares with a one-sample baseline."""
    baseline = [{"suite": "s", "item_id": f"s-{i:04d}-p0", "outcome": "correct", "score": 1.0, "metrics": None}
                for i in range(30)]
    report = evaluate(rules.parse({}), sampled("s", [[1, 0]] * 30), Baseline(1, "a" * 64, "run 1", baseline))
    (gate,) = [r for r in report.results if r.rule.name == "no-regression"]
    assert gate.n == 30 and gate.missing is None and gate.value == pytest.approx(0.5)


def test_source_items_cluster_the_samples_of_an_item():
    assert source_items(["s-0003-p0-s0", "s-0003-p0-s4", "s-0003-p1", "s-x-s3-p0"]) == [
        "s-0003", "s-0003", "s-0003", "s-x-s3"]
