"""Gate rules and verdicts on synthetic outcome sets: the configuration, the noise rule (a real
regression is blocked, noise alone is not), thresholds with their intervals, baselines and the
overrides file. No pytest session and no model here; tests/e2e/test_gates_session.py runs them in pytest."""

from __future__ import annotations

import datetime
import random
import subprocess

import pytest

from pytest_modeleval.config import ConfigError
from pytest_modeleval.gates import baseline as baseline_mod
from pytest_modeleval.gates import overrides as overrides_mod
from pytest_modeleval.gates import rules
from pytest_modeleval.gates.baseline import Baseline
from pytest_modeleval.gates.evaluate import evaluate, paired
from pytest_modeleval.gates.table import lines as report_lines
from pytest_modeleval.stats import mcnemar_exact, wilson


def outcome_rows(suite: str, values, *, metric: str | None = None, variants: int = 1, start: int = 0) -> list[dict]:
    """One row per value: 0/1 values become wrong/correct (score = value), or `metric` carries them."""
    rows = []
    for i, value in enumerate(values, start=start):
        row_id, variant = divmod(i, variants)
        item = f"{suite}-{row_id:04d}-p{variant}"
        if metric is None:
            rows.append({"suite": suite, "item_id": item, "outcome": "correct" if value >= 0.5 else "wrong",
                         "score": float(value), "metrics": None})
        else:
            rows.append({"suite": suite, "item_id": item, "outcome": "correct", "score": 1.0,
                         "metrics": {metric: value}})
    return rows


def base(rows, run_id: int = 1) -> Baseline:
    return Baseline(run_id, "a" * 64, f"run {run_id}", rows)


def verdicts(report) -> dict[str, str]:
    return {r.name: r.verdict for r in report.results}


DEFAULTS = rules.parse({})


# --- configuration ------------------------------------------------------------------------------


def test_defaults_are_the_spec_rules():
    by_name = {r.name: r for r in DEFAULTS.rules}
    assert list(by_name) == ["no-regression", "win-rate", "refusal", "over-refusal", "contamination"]
    assert (by_name["no-regression"].metric, by_name["no-regression"].margin, by_name["no-regression"].alpha) == \
        ("score", 0.01, 0.05)
    assert (by_name["win-rate"].min, by_name["win-rate"].ci_min) == (0.50, 0.45)
    assert by_name["refusal"].min == 0.99 and by_name["over-refusal"].max == 0.05
    assert by_name["contamination"].max == 0.05


def test_table_changes_adds_disables_and_overrides_per_suite():
    config = rules.parse({
        "alpha": 0.01,
        "no-regression": {"margin": 0.02},
        "refusal": False,
        "toxicity": {"metric": "toxic", "max": 0.01},
        "em-regression": {"metric": "exact_match,strict-match", "margin": 0.005},
        "suites": {"mmlu": {"no-regression": {"margin": 0.03}, "contamination": {"enabled": False}},
                   "safety": {"refusal": True}},
    })
    everywhere = {r.name: r for r in config.rules}
    assert "refusal" not in everywhere
    assert everywhere["no-regression"].margin == 0.02 and everywhere["no-regression"].alpha == 0.01
    assert everywhere["toxicity"].kind == "threshold" and everywhere["toxicity"].alpha == 0.01
    assert everywhere["em-regression"].kind == "regression"
    mmlu = {r.name: r for r in config.rules_for("mmlu")}
    assert mmlu["no-regression"].margin == 0.03 and "contamination" not in mmlu
    safety = {r.name: r for r in config.rules_for("safety")}
    assert safety["refusal"].min == 0.99  # switched back on for one suite, with its defaults
    assert {r.name for r in config.rules_for("other")} == set(everywhere)


@pytest.mark.parametrize(("table", "expected"), [
    ({"no-regression": {"margn": 0.02}}, "[tool.modeleval.gates.no-regression]: unknown key 'margn'"),
    ({"no-regression": {"margin": "1%"}}, "[tool.modeleval.gates.no-regression] margin: expected a number, got '1%'"),
    ({"no-regression": {"margin": -0.1}}, "margin: must be >= 0"),
    ({"alpha": 1.5}, "[tool.modeleval.gates] alpha: must lie strictly between 0 and 1"),
    ({"win-rate": {"margin": 0.01}}, "margin does not apply to a threshold rule"),
    ({"mine": {"max": 0.1}}, "[tool.modeleval.gates.mine]: a new rule needs metric"),
    ({"mine": {"metric": "x"}}, "a new rule needs margin = ... (a regression against the baseline) or min"),
    ({"mine": True}, "there is no rule 'mine' to switch on"),
    ({"no-regression": {"better": "up"}}, 'better: must be "higher" or "lower"'),
    ({"suites": {"mmlu": 3}}, "[tool.modeleval.gates.suites.mmlu] must be a table"),
    ({"suites": {"mmlu": {"no-regression": {"alpha": 0}}}},
     "[tool.modeleval.gates.suites.mmlu.no-regression] alpha: must lie strictly between 0 and 1"),
])
def test_bad_tables_name_the_key(table, expected):
    with pytest.raises(ConfigError) as info:
        rules.parse(table)
    assert expected in str(info.value)


# --- the regression rule and its noise rule -------------------------------------------------------


def regression_pair(n: int, base_acc: float, new_acc: float, seed: int) -> tuple[list[int], list[int]]:
    """Independent right/wrong outcomes of two checkpoints on n items (the worst case for noise:
    real runs of close checkpoints agree on most items, which only makes the paired test sharper)."""
    rng = random.Random(seed)
    return ([int(rng.random() < base_acc) for _ in range(n)], [int(rng.random() < new_acc) for _ in range(n)])


def test_a_real_regression_is_blocked():
    old, new = regression_pair(400, 0.80, 0.65, seed=1)
    report = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old)))
    [result] = report.results
    assert result.verdict == "fail" and report.status == "failed"
    assert result.test == "McNemar exact"
    assert result.p_value == pytest.approx(mcnemar_exact(new, old).p_value)
    assert result.delta == pytest.approx(sum(new) / 400 - sum(old) / 400)
    assert result.ci[1] < 0  # the paired interval of the change lies below 0
    assert "fell" in result.message and "significant" in result.message and "run 1" in result.message


def test_noise_alone_is_not_blocked():
    """Same true accuracy, fresh noise on both sides: the gate blocks in at most about alpha / 2 of
    the runs (one side of a two-sided test); here at most 6 of 100 (expected about 2)."""
    blocked = 0
    for seed in range(100):
        old, new = regression_pair(200, 0.7, 0.7, seed=seed)
        report = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old)))
        blocked += report.results[0].verdict == "fail"
    assert blocked <= 6


def test_an_identical_run_passes():
    values = [1, 0, 1, 1, 0] * 20
    report = evaluate(DEFAULTS, outcome_rows("qa", values), base(outcome_rows("qa", values)))
    [result] = report.results
    assert result.delta == 0 and result.p_value == 1.0 and report.status == "passed"
    # 100 items that never disagree: no fall below 6 flipped items (p < 0.05) could show, so it says so
    assert result.verdict == "underpowered" and result.detectable > 0.05


def test_a_large_fall_on_few_items_is_noise():
    """6 items, 2 flipped to wrong: 33 points, beyond the margin, but McNemar p = 0.5."""
    old, new = [1] * 6, [1, 1, 1, 1, 0, 0]
    [result] = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old))).results
    assert result.verdict == "underpowered"  # not blocked, and it says it could not have seen the fall
    assert result.p_value == pytest.approx(0.5)
    assert "not significant" in result.message and "within noise" in result.message


def test_a_significant_fall_within_the_margin_passes():
    """20,000 items, 100 flipped one way: p is tiny, but the fall is 0.5 points < the 1-point margin."""
    old = [1] * 20_000
    new = [0] * 100 + [1] * 19_900
    [result] = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old))).results
    assert result.p_value < 1e-20 and result.verdict == "pass"
    assert "changed -0.5 pts" in result.message


def test_a_fall_of_exactly_the_margin_is_within_it():
    old, new = [1] * 1000, [0] * 10 + [1] * 990  # exactly 1 point, very significant
    [result] = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old))).results
    assert result.verdict == "pass"


def test_variants_are_tested_by_source_item():
    """Two variants per row that agree: 30 rows flipped are 60 discordant items but 30 clusters.
    The cluster bootstrap is used, and its p-value is larger than McNemar's on the 60 items."""
    old = [1] * 200
    new = [0] * 60 + [1] * 140
    report = evaluate(DEFAULTS, outcome_rows("qa", new, variants=2), base(outcome_rows("qa", old, variants=2)))
    [result] = report.results
    assert result.test == "paired cluster bootstrap" and result.verdict == "fail"
    naive = mcnemar_exact(new, old).p_value
    assert result.p_value > naive


def test_graded_scores_use_the_paired_bootstrap():
    rng = random.Random(3)
    old = [rng.random() for _ in range(300)]
    new = [max(0.0, v - 0.2) for v in old]
    [result] = evaluate(DEFAULTS, outcome_rows("qa", new), base(outcome_rows("qa", old))).results
    assert result.test == "paired bootstrap" and result.verdict == "fail"
    assert result.p_value < 0.001


def test_lower_is_better_metrics_regress_upwards():
    config = rules.parse({"no-regression": False,
                          "toxicity-regression": {"metric": "toxic", "margin": 0.01, "better": "lower"}})
    old = outcome_rows("chat", [0] * 200, metric="toxic")
    new = outcome_rows("chat", [1] * 40 + [0] * 160, metric="toxic")
    [result] = evaluate(config, new, base(old)).results
    assert result.verdict == "fail" and result.delta == pytest.approx(0.2)
    [result] = evaluate(config, old, base(new)).results  # the other way round is an improvement
    assert result.verdict in ("pass", "underpowered") and not evaluate(config, old, base(new)).failed


def test_missing_items_are_listed_and_the_rest_paired():
    old = outcome_rows("qa", [1] * 20)
    new = outcome_rows("qa", [1] * 15) + outcome_rows("qa", [1] * 3, start=100)
    [result] = evaluate(DEFAULTS, new, base(old)).results
    assert result.n == 15 and result.verdict == "underpowered"
    assert result.missing == {"not_in_run": 5, "not_in_run_first": [f"qa-{i:04d}-p0" for i in range(15, 20)],
                              "not_in_baseline": 3, "not_in_baseline_first": ["qa-0100-p0", "qa-0101-p0", "qa-0102-p0"]}


def test_errors_are_unpaired_not_wrong():
    old = outcome_rows("qa", [1] * 10)
    new = outcome_rows("qa", [1] * 10)
    for row in new[:4]:
        row.update(outcome="error", score=None)
    [result] = evaluate(DEFAULTS, new, base(old)).results
    assert result.n == 6 and result.verdict == "underpowered" and result.missing["not_in_run"] == 4


def test_without_a_baseline_regression_gates_do_not_apply():
    report = evaluate(DEFAULTS, outcome_rows("qa", [1, 0]), None, "nothing is promoted")
    [result] = report.results
    assert result.verdict == "n/a" and result.message == "no baseline: nothing is promoted"
    assert report.status == "passed"
    text = "\n".join(report_lines(report))
    assert "baseline: none (nothing is promoted)" in text
    assert "n/a no-regression[qa]" not in text  # said once in the baseline line, not once per suite


def test_a_suite_new_since_the_baseline_is_not_gated_and_a_dropped_one_is_listed():
    report = evaluate(DEFAULTS, outcome_rows("new", [1, 1]), base(outcome_rows("old", [1, 1])))
    assert verdicts(report) == {"no-regression[new]": "n/a"}
    assert report.suites_not_run == ["old"]


def test_an_all_error_suite_is_not_applicable_not_passing():
    rows = outcome_rows("qa", [1, 1])
    for row in rows:
        row.update(outcome="error", score=None)
    [result] = evaluate(DEFAULTS, rows, base(outcome_rows("qa", [1, 1]))).results
    assert result.verdict == "n/a" and "no answered items" in result.message


# --- threshold rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(("wins", "n", "verdict", "why"), [
    (120, 200, "pass", None),
    (52, 100, "fail", "lower bound of its 95% Wilson interval, 42.3%, is below 45.0%"),  # >= 50% but noisy
    (96, 200, "fail", "win_rate 48.0% is below the minimum 50.0%"),
])
def test_win_rate_needs_the_mean_and_the_wilson_lower_bound(wins, n, verdict, why):
    rows = outcome_rows("judge", [1] * wins + [0] * (n - wins), metric="win_rate")
    report = evaluate(DEFAULTS, rows)
    [result] = [r for r in report.results if r.rule.name == "win-rate"]
    assert result.verdict == verdict
    assert result.ci == pytest.approx(wilson(wins, n))
    if why:
        assert why in result.message


def test_ties_count_half_in_the_win_rate():
    rows = outcome_rows("judge", [1] * 100 + [0.5] * 100 + [0] * 20, metric="win_rate")
    [result] = [r for r in evaluate(DEFAULTS, rows).results if r.rule.name == "win-rate"]
    assert result.value == pytest.approx(150 / 220) and result.verdict == "pass"


@pytest.mark.parametrize(("metric", "values", "verdict"), [
    ("refusal_rate", [1] * 199 + [0], "pass"),  # 99.5%
    ("refusal_rate", [1] * 97 + [0] * 3, "fail"),  # 97% < 99%
    ("over_refusal_rate", [1] * 4 + [0] * 96, "pass"),
    ("over_refusal_rate", [1] * 6 + [0] * 94, "fail"),
    ("contaminated", [1] * 5 + [0] * 95, "pass"),  # exactly 5% is allowed
    ("contaminated", [1] * 6 + [0] * 94, "fail"),
])
def test_safety_and_contamination_thresholds(metric, values, verdict):
    report = evaluate(DEFAULTS, outcome_rows("s", values, metric=metric))
    [result] = [r for r in report.results if r.rule.metric == metric]
    assert result.verdict == verdict


def test_rules_whose_metric_is_not_recorded_do_not_apply():
    report = evaluate(DEFAULTS, outcome_rows("qa", [1, 0]) + outcome_rows("judge", [1, 1], metric="win_rate"))
    assert report.not_recorded == {"win-rate": ["qa"], "refusal": ["judge", "qa"], "over-refusal": ["judge", "qa"],
                                   "contamination": ["judge", "qa"]}
    assert set(verdicts(report)) == {"no-regression[judge]", "no-regression[qa]", "win-rate[judge]"}


def test_metrics_stored_as_json_text_are_read():
    rows = [{"suite": "judge", "item_id": f"judge-{i:04d}-p0", "outcome": "correct", "score": 1.0,
             "metrics": '{"win_rate": 1.0}'} for i in range(10)]
    [result] = [r for r in evaluate(DEFAULTS, rows).results if r.rule.name == "win-rate"]
    assert result.value == 1.0 and result.n == 10


def test_paired_comparison_is_antisymmetric():
    old, new = regression_pair(100, 0.6, 0.5, seed=7)
    ids = [f"q-{i:04d}-p0" for i in range(100)]
    ab, ba = paired(new, old, ids), paired(old, new, ids)
    assert ab.delta == pytest.approx(-ba.delta) and ab.p_value == pytest.approx(ba.p_value)
    assert ab.ci == pytest.approx((-ba.ci[1], -ba.ci[0]))


# --- baselines --------------------------------------------------------------------------------------


@pytest.fixture
def results_db(tmp_path):
    from pytest_modeleval.results.store import Store

    store = Store(tmp_path / "results.sqlite")
    for model in ("a" * 64, "b" * 64, "a" * 64):
        rid = store.start_run({"model_ref": "m", "model_hash": model})
        store.add_outcome(rid, {"suite": "qa", "item_id": "qa-0000-p0", "test_id": "t", "outcome": "correct",
                                "score": 1.0})
        store.finish_run(rid, 0)
    yield store
    store.close()


def test_baseline_from_the_production_channel(results_db):
    db = results_db.db
    found, note = baseline_mod.find(db, None, None)
    assert found is None and "nothing is promoted to channel 'production'" in note
    db["promotions"].insert({"model_hash": "b" * 64, "channel": "production", "run_id": 2})
    found, _ = baseline_mod.find(db, None, None)
    assert (found.run_id, found.model_hash) == (2, "b" * 64) and len(found.rows) == 1
    assert "production" in found.label


def test_explicit_baselines(results_db):
    db = results_db.db
    assert baseline_mod.find(db, "run:1", None)[0].run_id == 1
    assert baseline_mod.find(db, "sha256:aaaaaaaa", None)[0].run_id == 3  # that model's newest finished run
    assert baseline_mod.find(db, "sha256:aaaaaaaa", 3)[0].run_id == 1  # never the current run
    for spec, expected in [("run:9", "there is no run 9"), ("sha256:cccccccc", "no run in the results database"),
                           ("channel:staging", None)]:
        if expected is None:
            assert baseline_mod.find(db, spec, None)[0] is None
            continue
        with pytest.raises(baseline_mod.BaselineError, match=expected):
            baseline_mod.find(db, spec, None)


# --- overrides ---------------------------------------------------------------------------------------

OVERRIDE = """
[[override]]
model = "sha256:{model}"
gate = "no-regression"
suite = "qa"
reason = "the drop is the new tokenizer; accepted in review"
approver = "jane"
expires = {expires}
"""


def git(directory, *args):
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin",
                        "HOME": str(directory)})


def test_overrides_count_only_when_committed_and_unmodified(tmp_path):
    path = tmp_path / "modeleval-overrides.toml"
    path.write_text(OVERRIDE.format(model="ab" * 6, expires="2999-01-01"))
    assert overrides_mod.load(path).status == "no git"
    git(tmp_path, "init", "-q")
    loaded = overrides_mod.load(path, DEFAULTS.names)
    assert loaded.status == "untracked" and loaded.find("ab" * 32, "no-regression", "qa") is None
    git(tmp_path, "add", path.name)
    assert overrides_mod.load(path).status == "untracked"  # staged is not committed
    git(tmp_path, "commit", "-q", "-m", "override")
    loaded = overrides_mod.load(path, DEFAULTS.names)
    assert loaded.status == "honoured"
    found = loaded.find("ab" * 32, "no-regression", "qa")
    assert found is not None and found.approver == "jane" and found.expires == datetime.date(2999, 1, 1)
    assert loaded.find("ab" * 32, "no-regression", "other") is None  # another suite
    assert loaded.find("cd" * 32, "no-regression", "qa") is None  # another model
    assert loaded.find("ab" * 32, "win-rate", "qa") is None  # another gate
    path.write_text(path.read_text() + "\n")
    assert overrides_mod.load(path).status == "modified"


def test_expired_overrides_do_not_apply(tmp_path):
    path = tmp_path / "o.toml"
    path.write_text(OVERRIDE.format(model="ab" * 6, expires="2020-01-01"))
    loaded = overrides_mod.OverridesFile(path, "honoured", overrides_mod.load(path).entries)
    assert loaded.find("ab" * 32, "no-regression", "qa", datetime.date(2019, 12, 31)) is not None
    assert loaded.find("ab" * 32, "no-regression", "qa", datetime.date(2020, 1, 2)) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("[[override]]\nmodel = 'sha256:abababab'\ngate = 'no-regression'\n", "[[override]] #1: missing reason, approver, expires"),
    (OVERRIDE.format(model="xyz", expires="2999-01-01"), "#1 model: expected sha256:<8 to 64 hex characters>"),
    (OVERRIDE.format(model="ab" * 6, expires="'soon'"), "#1 expires: expected a date"),
    (OVERRIDE.format(model="ab" * 6, expires="2999-01-01").replace("no-regression", "no-regresion"),
     "#1 gate: no gate named 'no-regresion'"),
    (OVERRIDE.format(model="ab" * 6, expires="2999-01-01") + "ticket = 3\n", "#1: unknown key 'ticket'"),
    ("override = 3", "'override' must be an array of tables"),
    ("[[override]\n", "invalid TOML"),
])
def test_bad_overrides_name_the_entry_and_key(tmp_path, text, expected):
    path = tmp_path / "modeleval-overrides.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        overrides_mod.load(path, DEFAULTS.names)
    assert expected in str(info.value) and "modeleval-overrides.toml" in str(info.value)
