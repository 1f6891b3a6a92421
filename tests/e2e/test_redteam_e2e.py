"""Red-team suites end to end on the embedded model: refusal and over-refusal recorded per item and category,
the refusal gates evaluated with the worst categories named, the library version recorded with the run,
the judge classifier as a batched round, XSTest files as suites, and `modeleval redteam validate`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from evalkit import RESULTS_DB, one_thread_engine, query, run, setup_suite
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.perturb import embed  # noqa: F401  (imported first: its loaded model outlives in-process runs)
from pytest_modeleval.redteam import learned
from pytest_modeleval.redteam.library import default_library

LIBRARY_SUITES = """
@modeleval.suite("refusal", data=modeleval.library_rows("harmful"), id_field="id", sample=6, chat=True,
                 request=modeleval.Refusal(kind="harmful", max_tokens=24))
def test_refusal(item, refusal):
    assert refusal.refused


@modeleval.suite("over_refusal", data=modeleval.library_rows("benign"), id_field="id", sample=6, chat=True,
                 request=modeleval.Refusal(kind="benign", max_tokens=24))
def test_over_refusal(item, refusal):
    assert not refusal.refused
"""


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def test_library_suites_gate_refusal_and_over_refusal(pytester, engine):
    setup_suite(pytester, LIBRARY_SUITES)
    db = pytester.path / RESULTS_DB
    result = run(pytester, "--junitxml=report.xml", "--eval-gate-mode=report")
    out = result.stdout.str()
    rows = query(db, "SELECT * FROM refusals ORDER BY test_id")
    assert len(rows) == 12
    assert {r["kind"] for r in rows} == {"harmful", "benign"}
    head = learned.shipped()  # the default classifier, named with its version
    assert all(r["classifier"] == head.name and r["classifier_version"] == head.version and r["label"]
               and r["refused"] in (0, 1) for r in rows)
    outcomes = {r["test_id"]: r for r in query(db, "SELECT * FROM outcomes")}
    for r in rows:
        metric = "refusal_rate" if r["kind"] == "harmful" else "over_refusal_rate"
        assert json.loads(outcomes[r["test_id"]]["metrics"]) == {metric: float(r["refused"])}
        assert outcomes[r["test_id"]]["response"] == r["completion"]
    gates = {g["gate"]: g for g in query(db, "SELECT * FROM gates")}
    harmful = [r["refused"] for r in rows if r["kind"] == "harmful"]
    assert gates["refusal"]["value"] == pytest.approx(sum(harmful) / 6)
    assert gates["refusal"]["verdict"] == ("pass" if sum(harmful) == 6 else "fail")
    assert gates["over-refusal"]["verdict"] in ("pass", "fail")
    assert "worst categories:" in gates["refusal"]["message"]
    assert "red team (harmful: refusal rate" in out and "worst categories" in out and head.name in out
    assert "corrected (95% CI)" in out
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "report.xml").getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["refusal[refusal]"].iter("property")}
    assert "worst categories:" in props["modeleval_message"]
    version = default_library().version
    suites = query(db, "SELECT * FROM suites")
    assert {s["data_sha256"] for s in suites} == {version}
    assert all(s["refusal_classifier_version"] == head.version and s["refusal_corrected"] is not None
               and s["refusal_corrected_lo"] <= s["refusal_corrected"] <= s["refusal_corrected_hi"] for s in suites)


JUDGE_CLASSIFIED = """
@modeleval.suite("refusal_judged", data=modeleval.library_rows("harmful", jailbreaks=False), id_field="id",
                 sample=4, chat=True,
                 request=modeleval.Refusal(classifier="judge", reasoning=False, max_tokens=24, judge_max_tokens=6))
def test_refusal(item, refusal):
    assert refusal.refused
"""


def test_judge_classifier_is_a_batched_round(pytester, engine):
    setup_suite(pytester, JUDGE_CLASSIFIED)
    db = pytester.path / RESULTS_DB
    run(pytester, "--judge=embedded", "--judge-allow-self", "--eval-gate-mode=report")
    rows = query(db, "SELECT * FROM refusals")
    assert len(rows) == 4 and all(r["classifier"].startswith("judge:") and r["template_sha256"] for r in rows)
    for r in rows:  # a class read strictly, or an error that says why
        assert (r["error"] is None) == (r["label"] in ("full_compliance", "full_refusal", "partial_refusal"))
        assert r["attempts"] >= 1 and json.loads(r["outputs"])
    skipped = run(pytester)  # no judge: a judge-classified suite is skipped, not failed
    skipped.assert_outcomes(skipped=4)


XSTEST_SUITE = """
from pytest_modeleval.redteam.public import xstest_rows

PATH = {path!r}


@modeleval.suite("xstest", data=lambda: xstest_rows(PATH), id_field="id", sample=6, seed=1, chat=True,
                 request=modeleval.Refusal(classifier="string", max_tokens=24))
def test_xstest(item, refusal):
    assert refusal.refused == (item["kind"] == "harmful")
"""


def test_xstest_file_as_a_suite(pytester, engine, shared_data):
    setup_suite(pytester, XSTEST_SUITE.format(path=str(shared_data / "xstest" / "xstest_prompts.csv")))
    db = pytester.path / RESULTS_DB
    result = run(pytester, "--eval-gate-mode=report")
    assert result.ret == 0
    rows = query(db, "SELECT * FROM refusals")
    assert len(rows) == 6 and {r["kind"] for r in rows} <= {"harmful", "benign"}


def test_validate_string_classifier_on_xstest(tmp_path, shared_data, capsys):
    from pytest_modeleval.redteam.classify import StringMatch
    from pytest_modeleval.redteam.validate import validate_classifier, xstest_completions

    path = shared_data / "xstest" / "completions_llama2new.csv"
    db = tmp_path / "r.sqlite"
    assert modeleval(["redteam", "validate", "--completions", str(path), "--limit", "120", "--db", str(db)]) == 0
    [record] = query(db, "SELECT * FROM classifier_validations")
    expected = validate_classifier(StringMatch(), xstest_completions(path)[:120])
    assert record["n"] == 120 and record["kappa"] == pytest.approx(expected.kappa.value)
    assert record["binary_kappa"] == pytest.approx(expected.binary_kappa.value)
    assert "completions_llama2new | 120 |" in capsys.readouterr().out
    assert modeleval(["redteam", "validate", "--classifier", "judge", "--completions", str(path)]) == 2
