"""Contamination evidence on a suite without variants (issue 31: membership "on request for any suite"), in a
real session on the embedded model: the instruments are checked at collection, the table is printed and
recorded, and `modeleval gate` on the recorded run keeps it without the model."""

from __future__ import annotations

import json

import pytest

from evalkit import RESULTS_DB, one_thread_engine, query, run, setup_suite, write_jsonl
from pytest_modeleval.cli import main as modeleval

ROWS = [
    {"question": "In the old story told by the river, which colour was the small boat that the fisherman painted "
                 "every spring?", "answer": 0},
    {"question": "According to the village almanac kept at the school, which season brings the longest nights "
                 "of the year?", "answer": 1},
    {"question": "When the baker opens the shop before dawn on market day, which bread is sold out first in "
                 "the morning?", "answer": 2},
]
HELD_OUT = [  # similar questions the model was surely not tuned on
    "Which instrument did the lighthouse keeper play on quiet evenings after the ships had passed?",
    "In the town's oldest tale, which animal guarded the bridge over the northern stream?",
    "According to the miller's notebook, which month brought the heaviest rain to the valley?",
    "When the choir rehearses in the cold hall, which song do they always sing first?",
]
SUITE = """
@modeleval.suite("folk", data="folk.jsonl", membership=modeleval.Membership(text="{{question}}", answer=None,
                                                                           reference={reference!r}),
                 overlap_index="index",
                 request=modeleval.Choices("Question: {{question}}\\nAnswer:", [" blue", " winter", " rye"]))
def test_folk(item, choice):
    assert choice in (0, 1, 2)  # the weak model's answers do not matter here
"""


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


@pytest.fixture
def project(pytester, engine):
    setup_suite(pytester, SUITE.format(reference="held_out.txt"), ROWS, data="folk.jsonl", counting=False)
    (pytester.path / "held_out.txt").write_text("\n".join(HELD_OUT) + "\n")
    write_jsonl(pytester.path / "corpus.jsonl", [{"text": "unrelated text"}, {"text": ROWS[1]["question"]}])
    assert modeleval(["contamination", "index", str(pytester.path / "corpus.jsonl"),
                      "--out", str(pytester.path / "index")]) == 0
    return pytester


def test_a_suite_without_variants_scores_membership_against_its_reference(project, monkeypatch):
    result = run(project)
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    assert "evidence for folk (no variants, so no perturbation test" in out and "1 in corpus" in out
    db = project.path / RESULTS_DB
    rows = {r["item_id"]: r for r in query(db, "SELECT * FROM contamination_items")}
    assert len(rows) == 3 and all(r["cs"] is None and r["min_k"] is not None for r in rows.values())
    assert {r["membership_basis"] for r in rows.values()} == {"reference (4)"}
    hit = next(r for r in rows.values() if r["overlap_shared"])
    assert hit["evidence_verdict"] == "in corpus" and hit["overlap_source"].endswith("corpus.jsonl:2")
    assert json.loads(query(db, "SELECT evidence FROM suites")[0]["evidence"])["reference"] == "held_out.txt"

    monkeypatch.chdir(project.path)
    (run_id,) = [r["id"] for r in query(db, "SELECT id FROM runs")]
    assert modeleval(["gate", str(run_id), "--db", str(db)]) == 0  # no model: the table comes from the DB
    assert {r["item_id"]: r for r in query(db, "SELECT * FROM contamination_items")} == rows


@pytest.mark.parametrize("reference, held_out, error", [
    ("missing.txt", None, "missing.txt"),
    ("held_out.jsonl", '{"text": "a question"}\n{"body": "no text field"}\n', "held_out.jsonl:2: not a JSON record"),
])
def test_a_reference_that_cannot_be_read_stops_collection(pytester, reference, held_out, error):
    setup_suite(pytester, SUITE.format(reference=reference), ROWS, data="folk.jsonl", counting=False)
    (pytester.path / "index").mkdir()
    if held_out is not None:
        (pytester.path / reference).write_text(held_out)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")  # no model needed: found at collection
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*suite 'folk'*contamination evidence*{error}*"])


def test_a_directory_that_is_not_an_index_stops_collection(pytester):
    setup_suite(pytester, SUITE.format(reference="held_out.txt"), ROWS, data="folk.jsonl", counting=False)
    (pytester.path / "held_out.txt").write_text("\n".join(HELD_OUT) + "\n")
    (pytester.path / "index").mkdir()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*suite 'folk'*contamination evidence*index: not an n-gram index*"])


def test_a_run_groups_union_has_every_shards_evidence(project):
    """The last shard writes its own evidence before the union is built from the DB and gated."""
    for shard in ("1/2", "2/2"):
        result = run(project, f"--eval-shard={shard}", "--eval-run-group=g1")
        assert result.ret == 0, result.stdout.str()
    db = project.path / RESULTS_DB
    (union,) = [r["id"] for r in query(db, "SELECT id FROM runs WHERE command LIKE 'run group%'")]
    items = query(db, "SELECT item_id, min_k, evidence_verdict FROM contamination_items WHERE run_id = ?", union)
    assert sorted(r["item_id"] for r in items) == ["folk-0000-p0", "folk-0001-p0", "folk-0002-p0"]
    assert all(r["min_k"] is not None for r in items)


def test_an_item_without_a_templates_field_stops_collection(pytester):
    rows = ROWS[:2] + [{"prompt": "a row with another field", "answer": 0}]
    setup_suite(pytester, SUITE.format(reference="held_out.txt"), rows, data="folk.jsonl", counting=False)
    (pytester.path / "held_out.txt").write_text("\n".join(HELD_OUT) + "\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*suite 'folk'*contamination evidence: item folk-0002-p0: Membership template "
                                 "'{question}' names field 'question', which the item lacks*"])
