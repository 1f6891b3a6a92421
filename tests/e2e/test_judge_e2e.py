"""The LLM judge end to end with the embedded model (SmolLM2-135M) as a weak, unvalidated judge.

The issue's check: verdicts parsed and recorded; the unvalidated judge reported and not counted
by the win-rate gate; a validation record that passes lets it count. Also: judging oneself is
refused unless allowed (and then recorded); no --judge skips judged suites; a rerun pays the
engine nothing; reference="production" reads the promoted run's answers from the DB first and
generates with the production checkpoint only what is missing. A verdict asked four times
(judge_samples, both orders) is recorded with its flips, summarized, and free on a rerun.

The validation that passes uses labels made from the judge's own verdicts: it tests the
mechanism (record keyed by judge and template, threshold, gate), not the judge's quality;
docs/judge.md reports the embedded judge's real kappa on LLMBar and MT-Bench.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from evalkit import RESULTS_DB, engine_calls, execute, one_thread_engine, query, run, setup_suite
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.judge import templates

ROWS = [
    {"id": "h0", "prompt": "What is the capital of Australia?", "reference": "Canberra."},
    {"id": "h1", "prompt": "How many days are in a leap year?", "reference": "366 days."},
    {"id": "h2", "prompt": "Translate 'good morning' into French.", "reference": "Bonjour."},
    {"id": "h3", "prompt": "Name a colour of the rainbow.", "reference": "Red."},
    {"id": "h4", "prompt": "What do bees make?", "reference": "Honey."},
    {"id": "h5", "prompt": "What is 2 + 2?", "reference": "4"},
]
SUITE = """
@modeleval.suite("help", data="gen.jsonl", id_field="id", chat=True,
                 request=modeleval.Pairwise("{{prompt}}", reference={reference!r}, reasoning=False,
                                            max_tokens=16, judge_max_tokens=6))
def test_help(item, judgment):
    assert judgment.outcome != "loss"
"""
JUDGE = ("--judge=embedded", "--judge-allow-self")
TEMPLATE = templates.pairwise(reasoning=False).sha256


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def judgments(db, run_id=None):
    run_id = run_id or query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
    return query(db, "SELECT * FROM judgments WHERE run_id = ? ORDER BY test_id", run_id)


def gate(db, name="win-rate"):
    run_id = query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
    rows = query(db, "SELECT * FROM gates WHERE run_id = ? AND gate = ?", run_id, name)
    return rows[0] if rows else None


def test_unvalidated_then_validated_judge(pytester, engine):
    setup_suite(pytester, SUITE.format(reference="{reference}"), ROWS)
    db = pytester.path / RESULTS_DB
    result = run(pytester, *JUDGE, "--junitxml=report.xml")
    out = result.stdout.str()
    rows = judgments(db)
    assert len(rows) == 6
    for row in rows:  # every verdict read, or an error that says why: never a guess
        assert row["judge_hash"] and row["template_sha256"] == TEMPLATE
        assert (row["error"] is None) == (row["outcome"] in ("win", "loss", "tie")), row
        assert row["attempts"] >= 1 and json.loads(row["outputs"])
        assert set(json.loads(row["candidate_slots"])) <= {"A", "B"}
    read = [r for r in rows if r["error"] is None]
    assert read, "the embedded judge produced no readable verdict at all"
    outcomes = {r["test_id"]: r for r in query(db, "SELECT * FROM outcomes")}
    for r in read:
        assert json.loads(outcomes[r["test_id"]]["metrics"])["win_rate"] == r["win_value"]
        assert outcomes[r["test_id"]]["response"] == r["candidate"]  # the outcome row shows the model's answer
    for r in rows:
        if r["error"]:
            assert outcomes[r["test_id"]]["outcome"] == "error"
    # reported as unvalidated, and the gate does not count it
    assert "UNVALIDATED" in out and "judges itself" in out, out
    assert gate(db)["verdict"] == "n/a" and "not counted" in gate(db)["message"]
    assert query(db, "SELECT judge_self FROM runs")[0]["judge_self"] == 1
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "report.xml").getroot().iter("testcase")}
    assert cases["win-rate[help]"].find("skipped") is not None
    assert query(db, "SELECT judge_counted FROM suites WHERE suite = 'help'")[0]["judge_counted"] == 0

    # a rerun pays the engine nothing: candidate answers and verdicts all come from the cache
    engine_calls(pytester, kind=None)
    run(pytester, *JUDGE)
    assert engine_calls(pytester, kind=None) == []
    assert [r["slot_verdicts"] for r in judgments(db)] == [r["slot_verdicts"] for r in rows]

    # judge stability (judge/stability.py): each verdict asked 4 times, both orders and sampled repetitions; the
    # flips recorded and summarized; a rerun pays nothing (every call cached under its own sample index)
    setup_suite(pytester, SUITE.format(reference="{reference}").replace(
        "judge_max_tokens=6", "judge_max_tokens=6, both_orders=True, judge_samples=4"))
    one = ("-k", "h0")  # one item: 3 new judge calls (the swapped order, a sampled repetition of each order)
    out = run(pytester, *JUDGE, *one).stdout.str()
    (row,) = judgments(db)
    slots, verdicts = json.loads(row["candidate_slots"]), json.loads(row["slot_verdicts"])
    assert len(slots) == 4 and slots[0] == slots[2] != slots[1] == slots[3]
    if row["error"] is None:  # the flips counted from the four verdicts mapped back, a flipped item a tie
        outcomes = ["tie" if v == "tie" else "win" if v == s else "loss" for v, s in zip(verdicts, slots)]
        assert row["flips"] == 4 - max(outcomes.count(o) for o in set(outcomes))
        assert row["outcome"] == (outcomes[0] if row["flips"] == 0 else "tie")
        assert "verdicts per item (both orders, sampled) disagreed on" in out and "flip rate" in out, out
    else:
        assert "no readable verdict" in out, out
    engine_calls(pytester, kind=None)
    run(pytester, *JUDGE, *one)
    assert engine_calls(pytester, kind=None) == []
    setup_suite(pytester, SUITE.format(reference="{reference}"))

    # validation against labels that disagree: stored, not trusted (exit status 1)
    pairs = [{"input": r["question"], "output_1": r["candidate"], "output_2": r["reference"]} for r in rows]
    (pytester.path / "wrong.jsonl").write_text("".join(json.dumps({**p, "label": "tie"}) + "\n" for p in pairs))
    status = modeleval(["judge", "validate", "--judge", "embedded", "--labels", "wrong.jsonl", "--direct", "--max-tokens", "6",
                        "--out", "wrong-out.jsonl", "--db", str(db)])
    assert status == 1
    judged = [json.loads(line) for line in (pytester.path / "wrong-out.jsonl").read_text().splitlines()]
    # labels that agree with the judge's own verdicts (the readable ones): the record passes, exit 0
    agree = [{**p, "label": j["judge"]} for p, j in zip(pairs, judged) if j["judge"] != "error"]
    if len({a["label"] for a in agree}) < 2:
        pytest.skip("the judge gave one verdict throughout; kappa is undefined for such labels")
    (pytester.path / "agree.jsonl").write_text("".join(json.dumps(a) + "\n" for a in agree))
    assert modeleval(["judge", "validate", "--judge", "embedded", "--labels", "agree.jsonl", "--direct", "--max-tokens", "6",
                      "--db", str(db)]) == 0
    record = query(db, "SELECT * FROM judge_validations ORDER BY id DESC")[0]
    assert record["kappa"] == pytest.approx(1.0) and record["passed"] == 1
    assert record["template_sha256"] == TEMPLATE and record["judge_hash"] == rows[0]["judge_hash"]

    result = run(pytester, *JUDGE)
    assert "validated (validation" in result.stdout.str()
    assert gate(db)["verdict"] in ("pass", "fail") and "not counted" not in gate(db)["message"]


def test_a_model_judging_itself_is_refused_unless_allowed(pytester, engine):
    setup_suite(pytester, SUITE.format(reference="{reference}"), ROWS)
    result = run(pytester, "--judge=embedded")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "self-preference" in result.stderr.str() and "--judge-allow-self" in result.stderr.str()


def test_without_a_judge_judged_suites_are_skipped(pytester, engine):
    setup_suite(pytester, SUITE.format(reference="{reference}"), ROWS)
    result = run(pytester, "-rs")
    assert result.ret == 0
    result.assert_outcomes(skipped=6)
    assert "needs a judge; pass --judge=REF" in result.stdout.str()
    assert engine_calls(pytester, kind=None) == []


def test_reference_production_reads_the_promoted_answers_first(pytester, engine):
    setup_suite(pytester, SUITE.format(reference="production"), ROWS[:3])
    db = pytester.path / RESULTS_DB
    result = run(pytester, *JUDGE, "-rs")  # nothing promoted: nothing to compare with, skipped
    result.assert_outcomes(skipped=3)
    assert "nothing is promoted to channel 'production'" in result.stdout.str()
    assert modeleval(["promote", "embedded", "--db", str(db)]) == 0
    run(pytester, *JUDGE)  # run 1 kept no answers: the production model (here the same one) generates them
    rows = judgments(db)
    assert len(rows) == 3 and all(r["reference"] == r["candidate"] for r in rows)
    assert modeleval(["promote", "embedded", "--db", str(db)]) == 0
    latest = query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
    # mark the promoted answers, to see where run 3 reads them
    execute(db, "UPDATE outcomes SET response = 'PROMOTED ' || item_id WHERE run_id = ?", latest)
    run(pytester, *JUDGE)
    assert [r["reference"] for r in judgments(db)] == [f"PROMOTED help-{row['id']}-p0" for row in ROWS[:3]]


GRADED_AND_REFERENCE_FILE = """
REFS = modeleval.reference_file("refs.csv", key="id", answer="text")


@modeleval.suite("quality", data="gen.jsonl", id_field="id", chat=True,
                 request=modeleval.Graded("{prompt}", scale=5, reasoning=False, max_tokens=16, judge_max_tokens=4))
def test_quality(item, judgment):
    assert judgment.rating >= 3


@modeleval.suite("vs_file", data="gen.jsonl", id_field="id", chat=True,
                 request=modeleval.Pairwise("{prompt}", reference=REFS, reasoning=False, max_tokens=16,
                                            judge_max_tokens=6))
def test_vs_file(item, judgment):
    assert judgment.outcome != "loss"
"""


def test_graded_suite_reference_file_and_human_round_trip(pytester, engine):
    """Single-answer grading records ratings and scores; a reference file is joined by key; a real judged
    run goes out to raters blinded and their labels come back with the agreement with the judge."""
    setup_suite(pytester, GRADED_AND_REFERENCE_FILE, ROWS)
    (pytester.path / "refs.csv").write_text("id,text\n" + "".join(f"{r['id']},FILE {r['id']}\n" for r in ROWS))
    db = pytester.path / RESULTS_DB
    run(pytester, *JUDGE)
    rows = judgments(db)
    graded = [r for r in rows if r["suite"] == "quality"]
    assert len(graded) == 6 and all(r["kind"] == "rating" and r["scale"] == 5 for r in graded)
    outcomes = {r["test_id"]: r for r in query(db, "SELECT * FROM outcomes")}
    for r in graded:  # the 135M judge rarely writes [[N]]; whatever it wrote is read strictly or is an error
        if r["error"] is None:
            assert 1 <= r["rating"] <= 5
            assert outcomes[r["test_id"]]["score"] == pytest.approx((r["rating"] - 1) / 4)
            assert json.loads(outcomes[r["test_id"]]["metrics"])["judge_rating"] == r["rating"]
        else:
            assert "no readable verdict after 3 judge call(s)" in r["error"] and r["attempts"] == 3
            assert outcomes[r["test_id"]]["outcome"] == "error" and outcomes[r["test_id"]]["score"] is None
    paired = [r for r in rows if r["suite"] == "vs_file"]
    assert [r["reference"] for r in paired] == [f"FILE {row['id']}" for row in ROWS]

    assert modeleval(["human", "export", "--run", "1", "--n", "4", "--out", "rate", "--db", str(db)]) == 0
    sheet = (pytester.path / "rate" / "human-run1.csv").read_text()
    assert "vs_file" not in sheet and "FILE h" in sheet  # blinded: the reference text, never the suite
    samples = query(db, "SELECT * FROM human_samples")
    assert len(samples) == 4
    by_test = {r["test_id"]: r for r in paired}
    lines = ["sample_id,label"]
    for s in samples:  # a rater who agrees with the judge wherever it gave a verdict
        j = by_test[s["test_id"]]
        verdict = {"win": s["candidate_position"], "loss": 3 - s["candidate_position"]}.get(j["outcome"], "tie")
        lines.append(f"{s['sample_id']},{verdict}")
    (pytester.path / "filled.csv").write_text("\n".join(lines) + "\n")
    assert modeleval(["human", "import", "filled.csv", "--rater", "r1", "--db", str(db)]) == 0
    labels = query(db, "SELECT * FROM human_labels")
    assert len(labels) == 4 and {r["rater"] for r in labels} == {"r1"}


@pytest.mark.parametrize("labels", ["Natural", "MT-Bench"])
def test_validate_on_human_labelled_pairs(pytester, engine, shared_data, labels):
    """`modeleval judge validate` on real LLMBar / MT-Bench human labels: the stored record's agreement
    and kappa are what the per-pair output says (kappa recomputed here from the two label lists). The four
    shortest pairs of each file, as the file gives them (MT-Bench's first four run to 9,000 characters)."""
    from pytest_modeleval.stats import cohen_kappa

    db = pytester.path / "r.sqlite"
    pairs = json.loads((shared_data / "llmbar" / labels / "dataset.json").read_text())
    (pytester.path / "pairs.json").write_text(json.dumps(sorted(pairs, key=lambda p: len(json.dumps(p)))[:4]))
    status = modeleval(["judge", "validate", "--judge", "embedded", "--labels", "pairs.json", "--direct",
                        "--max-tokens", "6",
                        "--out", "pairs.jsonl", "--db", str(db)])
    record = query(db, "SELECT * FROM judge_validations")[0]
    pairs = [json.loads(line) for line in (pytester.path / "pairs.jsonl").read_text().splitlines()]
    assert record["n"] == len(pairs) == 4 and record["passed"] == int(status == 0)
    human, judge = [p["human"] for p in pairs], [p["judge"] for p in pairs]
    assert record["agreement"] == pytest.approx(sum(h == j for h, j in zip(human, judge)) / 4)
    assert record["n_errors"] == judge.count("error")
    if len(set(human) | set(judge)) > 1 and record["kappa"] is not None:
        assert record["kappa"] == pytest.approx(cohen_kappa(human, judge).value)
    assert record["template_sha256"] == TEMPLATE  # the template a reasoning=False suite uses
