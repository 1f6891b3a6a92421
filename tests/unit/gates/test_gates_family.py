"""Family-wise control and power of the gates: Holm and Bonferroni adjusted p-values (by hand and
against statsmodels), `correction = "none"` reproducing the per-gate rule, the underpowered verdict
and its exit-status policy, the threshold basis and what a suite can show, `metric = "p_correct"`,
the exact McNemar power against simulation, and the new DB columns. No model here."""

from __future__ import annotations

import random
import sqlite3

import pytest

from evalkit import query
from pytest_modeleval.config import ConfigError
from pytest_modeleval.gates import rules
from pytest_modeleval.gates.baseline import outcome_rows as stored_rows
from pytest_modeleval.gates.evaluate import evaluate
from pytest_modeleval.gates.save import record
from pytest_modeleval.gates.table import lines
from pytest_modeleval.stats import mcnemar_exact
from pytest_modeleval.stats.multiplicity import adjust, single_level
from pytest_modeleval.stats.power import (detectable_fall, items_to_show, mcnemar_power, min_detectable_effect,
                                          paired_items_needed)
from pytest_modeleval.results.store import Store
from pytest_modeleval.results.tables import SCHEMA_VERSION
from test_gates import base, outcome_rows

DEFAULTS = rules.parse({})
NONE = rules.parse({"correction": "none"})


def flipped(suite: str, n: int, falls: int, rises: int, right: int | None = None) -> tuple[list, list]:
    """(new rows, old rows): n items, `falls` right -> wrong, `rises` wrong -> right, the rest as before."""
    right = n // 2 if right is None else right
    old = [1] * right + [0] * (n - right)
    new = list(old)
    for i in range(falls):
        new[i] = 0
    for i in range(rises):
        new[right + i] = 1
    return outcome_rows(suite, new), outcome_rows(suite, old)


# --- the adjustment itself -------------------------------------------------------------------------


def test_holm_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 * 4 = 0.02; 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust(p, "none") == p
    assert adjust([0.5, 0.9], "bonferroni") == [1.0, 1.0]
    assert single_level(0.05, 10, "holm") == pytest.approx(0.005) and single_level(0.05, 10, "none") == 0.05


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = random.Random(7)
    for _ in range(20):
        p = [rng.random() ** 3 for _ in range(rng.randint(1, 12))]
        for method in ("holm", "bonferroni"):
            assert adjust(p, method) == pytest.approx(list(multipletests(p, method=method)[1]), abs=1e-12)


def test_bad_correction_values_name_the_key():
    with pytest.raises(ConfigError, match=r'\[tool.modeleval.gates\] correction: must be "holm" \| "bonferroni" \| '
                                          r'"none", got \'sidak\''):
        rules.parse({"correction": "sidak"})
    with pytest.raises(ConfigError, match=r'\[tool.modeleval.gates.no-regression\] underpowered: must be "pass" \| '
                                          r'"fail", got \'block\''):
        rules.parse({"no-regression": {"underpowered": "block"}})
    with pytest.raises(ConfigError, match=r"\[tool.modeleval.gates.no-regression\]: basis does not apply to a "
                                          "regression rule"):
        rules.parse({"no-regression": {"basis": "lower-bound"}})
    with pytest.raises(ConfigError, match="underpowered does not apply to a threshold rule"):
        rules.parse({"refusal": {"underpowered": "fail"}})
    config = rules.parse({"correction": "bonferroni", "underpowered": "fail", "refusal": {"basis": "lower-bound"}})
    by_name = {r.name: r for r in config.rules}
    assert config.correction == "bonferroni" and by_name["no-regression"].underpowered == "fail"
    assert by_name["refusal"].basis == "lower-bound" and DEFAULTS.correction == "holm"


# --- the family in the gates -------------------------------------------------------------------------


def test_holm_in_the_gates_against_a_hand_computed_family():
    """Three suites: a clear fall, a fall significant on its own (p = 0.035) and no change. Holm
    multiplies the smallest p by 3 and the next by 2: the second gate no longer blocks."""
    new_a, old_a = flipped("a", 400, falls=15, rises=0)
    new_b, old_b = flipped("b", 200, falls=12, rises=3)
    new_c, old_c = flipped("c", 100, falls=0, rises=0)
    new, old = new_a + new_b + new_c, old_a + old_b + old_c
    p_a, p_b = 2 * 0.5 ** 15, 2 * (1 + 15 + 105 + 455) / 2 ** 15
    report = evaluate(DEFAULTS, new, base(old))
    by_suite = {r.suite: r for r in report.results}
    assert by_suite["a"].p_value == pytest.approx(p_a) and by_suite["b"].p_value == pytest.approx(p_b)
    assert by_suite["a"].p_adjusted == pytest.approx(3 * p_a)
    assert by_suite["b"].p_adjusted == pytest.approx(2 * p_b)
    assert by_suite["c"].p_adjusted == 1.0
    assert {r.family_size for r in report.results} == {3} and {r.correction for r in report.results} == {"holm"}
    assert by_suite["a"].verdict == "fail" and by_suite["b"].verdict != "fail"
    assert f"McNemar exact p={p_b:.3f}, Holm-adjusted p={2 * p_b:.3f} over 3 regression gates" in by_suite["b"].message
    text = "\n".join(lines(report))
    assert "p adj" in text.splitlines()[1] and "detectable" in text.splitlines()[1]
    assert "(p adj: Holm's step-down over the run's 3 regression gates" in text
    # each gate on its own, as before family-wise control: b blocks too
    alone = {r.suite: r for r in evaluate(NONE, new, base(old)).results}
    assert alone["b"].verdict == "fail" and alone["b"].p_adjusted == alone["b"].p_value
    assert "adjusted" not in alone["b"].message
    bonferroni = {r.suite: r for r in evaluate(rules.parse({"correction": "bonferroni"}), new, base(old)).results}
    assert bonferroni["b"].p_adjusted == pytest.approx(3 * p_b)


def test_correction_none_reproduces_the_per_gate_rule():
    """On random families of suites, `none` blocks exactly where the rule before family-wise control
    did: fall > margin and the suite's own McNemar p < alpha."""
    rng = random.Random(11)
    checked = 0
    for trial in range(40):
        new, old, expected = [], [], {}
        for s in range(3):
            n = rng.choice([30, 120, 400])
            a = [int(rng.random() < 0.7) for _ in range(n)]
            drop = rng.choice([0.0, 0.05, 0.15])
            b = [x if rng.random() > 0.2 else int(rng.random() < 0.7 - drop) for x in a]
            suite = f"s{s}"
            new += outcome_rows(suite, b)
            old += outcome_rows(suite, a)
            fall = (sum(a) - sum(b)) / n
            expected[suite] = fall > 0.01 + 1e-12 and mcnemar_exact(b, a).p_value < 0.05
        report = evaluate(NONE, new, base(old))
        assert {r.suite: r.verdict == "fail" for r in report.results} == expected
        checked += sum(expected.values())
    assert checked >= 3  # the families did include real blocks


# --- power: the underpowered verdict -------------------------------------------------------------------


def test_a_20_item_suite_without_change_is_underpowered_with_the_needed_n():
    new, old = flipped("small", 20, falls=1, rises=1, right=14)
    report = evaluate(DEFAULTS, new, base(old))
    [result] = report.results
    assert result.verdict == "underpowered" and result.underpowered and report.status == "passed"
    assert not report.failed
    assert result.detectable == pytest.approx(detectable_fall(20, 0.1, 0.05), rel=1e-6)
    assert result.needed_n == paired_items_needed(0.01, 0.1, 0.05)
    assert f"needs about {result.needed_n:,} paired items" in result.message
    text = "\n".join(lines(report))
    assert f"underpowered no-regression[small]: " in text
    assert "gates passed: 1 of 1, 1 underpowered" in text


def test_underpowered_fail_policy_blocks_and_a_significant_fall_fails_whatever_the_power():
    new, old = flipped("small", 20, falls=1, rises=1, right=14)
    strict = rules.parse({"underpowered": "fail"})
    report = evaluate(strict, new, base(old))
    [result] = report.results
    assert result.verdict == "fail" and result.underpowered and report.status == "failed"
    assert result.message.startswith('underpowered, and underpowered = "fail" blocks it')
    assert "FAIL (underpowered)" in "\n".join(lines(report))
    # 20 items all flipped to wrong: significant and beyond the margin, a fail under either policy
    new, old = flipped("small", 20, falls=20, rises=0, right=20)
    for config in (DEFAULTS, strict):
        [result] = evaluate(config, new, base(old)).results
        assert result.verdict == "fail" and not result.underpowered


def test_a_large_suite_is_not_underpowered():
    """50,000 items, 2% discordant: it sees falls of about 0.2 points, well inside the margin."""
    new, old = flipped("big", 50_000, falls=500, rises=500)
    [result] = evaluate(DEFAULTS, new, base(old)).results
    assert result.verdict == "pass" and not result.underpowered
    assert result.detectable < 0.01 and "it detects a fall of" in result.message


def test_power_is_planned_at_the_corrected_level():
    """Ten suites under Holm: each plans its power at alpha / 10, so it sees only a larger fall."""
    new, old = [], []
    for s in range(10):
        n, o = flipped(f"s{s}", 1000, falls=115, rises=115)
        new += n
        old += o
    holm = evaluate(DEFAULTS, new, base(old)).results
    alone = evaluate(NONE, new, base(old)).results
    assert holm[0].detectable == pytest.approx(detectable_fall(1000, 0.23, 0.005), rel=1e-6)
    assert alone[0].detectable == pytest.approx(detectable_fall(1000, 0.23, 0.05), rel=1e-6)
    assert holm[0].detectable > alone[0].detectable


def test_exact_mcnemar_power_agrees_with_simulation_of_the_test():
    rng = random.Random(5)
    n, q, d, alpha, runs = 150, 0.2, 0.08, 0.05, 1500
    rejected = 0
    for _ in range(runs):
        a, b = [], []
        for _ in range(n):
            u = rng.random()
            a.append(1)
            b.append(0 if u < (q + d) / 2 else 1)
            if (q + d) / 2 <= u < q:  # a rise: wrong before, right now
                a[-1], b[-1] = 0, 1
        fell = sum(a) > sum(b)
        rejected += fell and mcnemar_exact(b, a).p_value < alpha
    exact = mcnemar_power(n, q, d, alpha)
    assert abs(rejected / runs - exact) < 0.04
    # with the margin too (the gate's whole rule) it can only be lower; a margin of 0 changes nothing
    assert mcnemar_power(n, q, d, alpha, margin=0.05) < exact == mcnemar_power(n, q, d, alpha, margin=0.0)
    # the detectable fall is where the exact power reaches 80%, close to Connor's approximation at large n
    fall = detectable_fall(2000, 0.23, 0.05)
    assert mcnemar_power(2000, 0.23, fall, 0.05) == pytest.approx(0.8, abs=2e-3)
    assert fall == pytest.approx(min_detectable_effect(2000, design="paired", discordance=0.23), rel=0.03)
    assert detectable_fall(4, 0.5, 0.05) == float("inf")  # 4 items cannot reach p < 0.05 at all


# --- threshold rules: basis and what a suite can show ------------------------------------------------


def threshold(config, rows):
    """The one threshold result of a run without a baseline (its regression gates are n/a)."""
    [result] = [r for r in evaluate(config, rows).results if r.rule.kind == "threshold"]
    return result


def test_threshold_basis_and_what_the_suite_can_show():
    rows = outcome_rows("xs", [1.0] * 16, metric="refusal_rate")
    result = threshold(DEFAULTS, rows)
    assert result.verdict == "pass"  # basis "estimate": today's behaviour
    assert ("it cannot show >= 99.0%: the 95% Wilson lower bound of 16 items is 80.6%; at 0 failures it takes "
            "381 items") in result.message
    assert result.needed_n == 381 == items_to_show(1.0, 0.99)
    assert "cannot show" in "\n".join(lines(evaluate(DEFAULTS, rows)))
    strict = rules.parse({"refusal": {"basis": "lower-bound"}})
    result = threshold(strict, rows)
    assert result.verdict == "fail" and "does not clear the minimum 99.0%" in result.message
    result = threshold(strict, outcome_rows("xs", [1.0] * 400, metric="refusal_rate"))
    assert result.verdict == "pass" and "it shows >= 99.0%" in result.message
    # an upper bound: over-refusal <= 5% with 2 of 100 refused
    result = threshold(DEFAULTS, outcome_rows("xb", [1.0] * 2 + [0.0] * 98, metric="over_refusal_rate"))
    assert result.verdict == "pass" and "it cannot show <= 5.0%" in result.message
    assert result.needed_n == items_to_show(0.02, 0.05, "max") > 100
    # a rate below the bound can never show it
    result = threshold(DEFAULTS, outcome_rows("xs", [1.0] * 90 + [0.0] * 10, metric="refusal_rate"))
    assert result.verdict == "fail" and "no number of items would" in result.message


# --- metric = "p_correct" ------------------------------------------------------------------------------


def p_correct_rows(suite: str, values) -> list[dict]:
    return [{"suite": suite, "item_id": f"{suite}-{i:04d}-p0", "outcome": "correct" if v > 0.5 else "wrong",
             "score": float(v > 0.5), "metrics": None, "p_correct": v} for i, v in enumerate(values)]


def test_p_correct_rule_gates_the_continuous_value():
    config = rules.parse({"pc-regression": {"metric": "p_correct", "margin": 0.01}})
    rng = random.Random(2)
    old = [rng.random() for _ in range(400)]
    new = [max(0.0, v - 0.05 * rng.random() - 0.02) for v in old]
    report = evaluate(config, p_correct_rows("mc", new), base(p_correct_rows("mc", old)))
    gate = next(r for r in report.results if r.rule.name == "pc-regression")
    assert gate.test == "paired bootstrap" and gate.verdict == "fail"
    assert gate.delta == pytest.approx(sum(new) / 400 - sum(old) / 400)
    assert gate.family_size == 2  # with no-regression on the score: one family
    assert gate.detectable < 0.02 and not gate.underpowered
    # a suite without p_correct is not gated by the rule
    plain = evaluate(config, outcome_rows("qa", [1, 0] * 10), base(outcome_rows("qa", [1, 0] * 10)))
    assert plain.not_recorded["pc-regression"] == ["qa"]
    assert [r.rule.name for r in plain.results] == ["no-regression"]


# --- the results DB: schema 6 ------------------------------------------------------------------------


def test_p_correct_and_the_gate_columns_in_the_db(tmp_path):
    db_path = tmp_path / "old.sqlite"
    with sqlite3.connect(db_path) as conn:  # a schema-5 DB: no p_correct, no power columns
        conn.execute("CREATE TABLE outcomes (id INTEGER PRIMARY KEY, run_id INTEGER, suite TEXT, item_id TEXT, "
                     "test_id TEXT, outcome TEXT, score FLOAT, metrics TEXT)")
        conn.execute("CREATE UNIQUE INDEX idx_outcomes_run_id_test_id ON outcomes (run_id, test_id)")
        conn.execute("CREATE TABLE gates (run_id INTEGER, suite TEXT, gate TEXT, verdict TEXT, "
                     "PRIMARY KEY (run_id, suite, gate))")
    store = Store(db_path)
    try:
        assert query(db_path, "PRAGMA user_version")[0]["user_version"] == SCHEMA_VERSION == 6
        assert "p_correct" in store.db["outcomes"].columns_dict
        assert {"p_adjusted", "correction", "family_size", "detectable", "needed_n", "underpowered"} <= \
            set(store.db["gates"].columns_dict)
        run_a = store.start_run({"model_hash": "a" * 64})
        run_b = store.start_run({"model_hash": "b" * 64})
        for run, values in ((run_a, [0.9, 0.8, 0.7, 0.6] * 5), (run_b, [0.5, 0.4, 0.7, 0.6] * 5)):
            for row in p_correct_rows("mc", values):
                store.add_outcome(run, {**row, "test_id": row["item_id"]})
        store.flush()
        old, new = stored_rows(store.db, run_a), stored_rows(store.db, run_b)
        assert [r["p_correct"] for r in old[:4]] == [0.9, 0.8, 0.7, 0.6]
        config = rules.parse({"pc-regression": {"metric": "p_correct", "margin": 0.01}})
        report = evaluate(config, new, base(old, run_a))
        record(store, run_b, report, None)
        rows = {r["gate"]: r for r in query(db_path, "SELECT * FROM gates WHERE run_id = ?", run_b)}
        pc = next(r for r in report.results if r.rule.name == "pc-regression")
        assert rows["pc-regression"]["p_adjusted"] == pytest.approx(pc.p_adjusted)
        assert rows["pc-regression"]["correction"] == "holm" and rows["pc-regression"]["family_size"] == 2
        assert rows["pc-regression"]["detectable"] == pytest.approx(pc.detectable)
        assert rows["no-regression"]["underpowered"] == int(report.results[0].underpowered)
    finally:
        store.close()


def test_modeleval_gate_and_compare_use_the_same_family(tmp_path, monkeypatch, capsys):
    """A recorded run gated again (a merged run) is one family; `modeleval compare` adjusts its rows alike."""
    from pytest_modeleval.cli import main as modeleval

    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "results.sqlite")
    families = [flipped("a", 400, falls=15, rises=0), flipped("b", 200, falls=12, rises=3),
                flipped("c", 100, falls=0, rises=0)]
    runs = []
    for side in (1, 0):  # the baseline's rows first
        run = store.start_run({"model_hash": ("ab" if side else "cd") * 32})
        for rows_of in families:
            for row in rows_of[side]:
                store.add_outcome(run, {**row, "test_id": row["item_id"]})
        store.finish_run(run, 0)
        runs.append(run)
    store.close()
    assert modeleval(["gate", str(runs[1]), "--baseline", f"run:{runs[0]}", "--db", "results.sqlite"]) == 10
    text = capsys.readouterr().out
    assert "(p adj: Holm's step-down over the run's 3 regression gates" in text
    gates = {g["suite"]: g for g in query(tmp_path / "results.sqlite", "SELECT * FROM gates WHERE run_id = ?", runs[1])}
    assert gates["b"]["p_adjusted"] == pytest.approx(2 * gates["b"]["p_value"]) and gates["b"]["verdict"] != "fail"
    assert gates["a"]["verdict"] == "fail" and {g["family_size"] for g in gates.values()} == {3}
    assert modeleval(["compare", str(runs[0]), str(runs[1]), "--db", "results.sqlite"]) == 0
    compared = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
                if line[:2] in ("a ", "b ", "c ")}
    assert compared["b"][9] == f"{gates['b']['p_value']:.3f}" and compared["b"][10] == f"{gates['b']['p_adjusted']:.3f}"
