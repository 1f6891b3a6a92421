"""Sequential gates without a session (gates/sequential.py): the configuration, the visiting order, and the
decision as a function of the rounds alone, so extra items past it (an xdist worker's) change nothing."""

from __future__ import annotations

import pytest

from pytest_modeleval.config import ConfigError
from pytest_modeleval.gates import rules, unmatched
from pytest_modeleval.gates.baseline import Baseline
from pytest_modeleval.gates.evaluate import evaluate, item_values
from pytest_modeleval.gates.sequential import look, order


def rows(values: dict, suite: str = "s", skipped=()) -> list[dict]:
    out = [{"suite": suite, "item_id": item, "outcome": "correct" if v else "wrong", "score": float(v),
            "metrics": None} for item, v in values.items()]
    return out + [{"suite": suite, "item_id": item, "outcome": "skipped", "score": None, "metrics": None}
                  for item in skipped]


def test_configuration_globally_per_suite_and_its_errors():
    config = rules.parse({"sequential": True, "look-every": 0.25, "suites": {"b": {"sequential": False}}})
    assert config.is_sequential("a") and not config.is_sequential("b") and config.look_every == 0.25
    assert config.named == {"b": ()}  # `sequential` is not a rule name
    with pytest.raises(ConfigError, match=r"\[tool.modeleval.gates\] sequential: expected true or false, got 'yes'"):
        rules.parse({"sequential": "yes"})
    with pytest.raises(ConfigError, match=r"look-every: expected a share .* got 0"):
        rules.parse({"look-every": 0})


def test_a_sequential_table_for_a_suite_the_run_lacks_fails_closed():
    config = rules.parse({"suites": {"mmul": {"sequential": True}}})
    report = evaluate(config, rows({"mmlu-1": 1}, suite="mmlu"))
    unmatched.check(config, report)
    assert [r.verdict for r in report.results if r.suite == "mmul"] == ["fail"]


def values(answers: dict) -> dict:
    return item_values(rows(answers))[0]["s"]


def test_the_order_is_fixed_keeps_variants_together_and_counts_tests_per_round():
    ids = [f"s-{i:03d}-p{k}" for i in range(20) for k in range(2)]
    plan = order("s", ids, 0.1)
    assert plan == order("s", list(reversed(ids)), 0.1)  # the same whatever the collection order
    assert len(plan.clusters) == 20 and plan.per_round == 2 and plan.rounds == 10
    assert plan.round_of("s-007-p0") == plan.round_of("s-007-p1") and plan.tests_until(0) == 4
    assert plan.round_of("s-999") == -1


def test_the_decision_rests_on_its_rounds_alone():
    ids = [f"s-{i:03d}" for i in range(300)]
    old = dict.fromkeys(ids, 1)
    new = {item: int(i % 3 != 0) for i, item in enumerate(ids)}
    config = rules.parse({"sequential": True})
    plan = order("s", ids)
    first = look(config, "s", values(new), values(old), ids, plan.rounds - 1, family=1)
    [(name, decision)] = first.decided.items()
    assert name == "no-regression" and decision.verdict == "fail" and decision.round < plan.rounds - 1
    assert first.closed and "decided after" in first.reason("s")
    # the run stopped there: the rest skipped, or (a worker running ahead) a few past it answered differently
    inside = [i for i in ids if plan.round_of(i) <= decision.round]
    stopped = {i: new[i] for i in inside}
    ahead = {**stopped, **{i: 1 for i in ids if plan.round_of(i) == decision.round + 1}}
    verdicts = []
    for answered in (new, stopped, ahead):
        skipped = [i for i in ids if i not in answered]
        [gate] = [r for r in evaluate(config, rows(answered, skipped=skipped),
                                      Baseline(1, "0" * 64, "run 1", rows(old))).results if r.rule.kind == "regression"]
        verdicts.append((gate.verdict, gate.sequential, gate.n, gate.message))
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert verdicts[0][2] == len(inside)
    early = look(config, "s", values(new), values(old), ids, decision.round - 1, family=1)
    assert not early.closed and early.open == ["no-regression is open"]


def test_a_threshold_rule_on_the_suite_keeps_it_open():
    ids = [f"s-{i:03d}" for i in range(100)]
    config = rules.parse({"sequential": True, "floor": {"metric": "score", "min": 0.1}})
    seen = look(config, "s", values(dict.fromkeys(ids, 0)), values(dict.fromkeys(ids, 1)), ids, 9, family=1)
    assert "no-regression" in seen.decided and not seen.closed
    assert seen.open == ["floor is a threshold rule (decided on all items)"]
