"""The judge's parts that need no model: strict verdict parsing (hostile outputs included), the tie
rules, the order draw, the length-controlled win rate, label files and trust records."""

from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa

from pytest_modeleval.judge import templates
from pytest_modeleval.judge.judgment import Judgment, candidate_outcome, combine
from pytest_modeleval.judge.labels import LabelsError, load
from pytest_modeleval.judge.summary import length_controlled_win_rate, summarize
from pytest_modeleval.judge.verdict import VerdictError, parse_pairwise, parse_rating
from pytest_modeleval.results.schema import tables

# --- verdict parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, verdict", [
    ("A is clearer and correct.\n[[A]]", "A"),
    ("Both miss the point.\nVerdict: [[C]]", "tie"),
    ("[[B]]", "B"),
    ("B wins. [[B]] Final answer: [[B]]", "B"),  # the same verdict twice is one verdict
    ("[[ A ]]", "A"),
])
def test_well_formed_verdicts_are_read(text, verdict):
    assert parse_pairwise(text) == verdict


@pytest.mark.parametrize("text, problem", [
    ("I think A is better, then again [[A]] or [[B]]", "several verdicts"),  # both tokens
    ("Answer A is better.", "no verdict"),  # none
    ("", "no verdict"),
    ("Verdict: A", "no verdict"),  # a different format
    ("[A]", "no verdict"),
    ("**A**", "no verdict"),
    ("[[Assistant A]]", "unknown verdict"),
    ("[[a]]", "unknown verdict"),  # strict: the letters are capitals
    ("[[tie]]", "unknown verdict"),
    ("[[7]]", "unknown verdict"),
])
def test_malformed_verdicts_are_errors(text, problem):
    with pytest.raises(VerdictError, match=problem):
        parse_pairwise(text)


def test_very_long_output_is_parsed_and_quoted_short():
    filler = "The answers differ in tone. " * 20_000
    assert parse_pairwise(filler + "[[B]]") == "B"
    with pytest.raises(VerdictError) as exc:
        parse_pairwise(filler)
    assert len(str(exc.value)) < 400 and f"{len(filler)} characters" in str(exc.value)


def test_a_verdict_hidden_in_both_orders_of_a_long_text_is_still_several():
    with pytest.raises(VerdictError, match="several"):
        parse_pairwise("[[A]]" + "x" * 100_000 + "[[B]]")


def test_non_text_is_an_error():
    with pytest.raises(VerdictError, match="NoneType"):
        parse_pairwise(None)


@pytest.mark.parametrize("text, rating", [("Good.\nRating: [[8]]", 8.0), ("[[10]]", 10.0), ("[[1]] [[1]]", 1.0),
                                          ("[[7.5]]", 7.5)])
def test_ratings_are_read(text, rating):
    assert parse_rating(text, 10) == rating


@pytest.mark.parametrize("text, problem", [("[[11]]", "outside"), ("[[0]]", "outside"), ("[[3]] then [[4]]", "several"),
                                           ("Rating: 8", "no rating"), ("[[A]]", "no rating")])
def test_bad_ratings_are_errors(text, problem):
    with pytest.raises(VerdictError, match=problem):
        parse_rating(text, 10)


# --- outcomes and ties ----------------------------------------------------------------------------


def test_slot_verdicts_become_the_candidates_outcome():
    assert candidate_outcome("A", "A") == "win" and candidate_outcome("B", "A") == "loss"
    assert candidate_outcome("B", "B") == "win" and candidate_outcome("A", "B") == "loss"
    assert candidate_outcome("tie", "A") == "tie"


def test_orders_that_disagree_are_a_tie():
    assert combine(["win", "win"]) == "win" and combine(["loss", "loss"]) == "loss"
    assert combine(["win", "loss"]) == "tie" and combine(["win", "tie"]) == "tie"
    assert combine(["loss"]) == "loss"


def test_ties_count_half_and_errors_count_nothing():
    j = Judgment("pairwise", "h", "t", "q", "c", "r", outcome="tie")
    assert j.win_value == 0.5
    j.error = "no readable verdict"
    assert j.win_value is None


def test_a_rating_maps_onto_zero_to_one():
    assert Judgment("rating", "h", "t", "q", "c", rating=10, scale=10).score == 1.0
    assert Judgment("rating", "h", "t", "q", "c", rating=1, scale=10).score == 0.0


# --- summary figures -------------------------------------------------------------------------------


def record(outcome, slots, verdicts, cand="c" * 10, ref="r" * 10, error=None):
    j = Judgment("pairwise", "j" * 64, "t" * 64, "q", cand, ref, candidate_slots=slots, slot_verdicts=verdicts,
                 outcome=outcome, error=error)
    return j.record()


def test_summary_counts_position_bias_and_disagreement():
    records = [record("win", ["A", "B"], ["A", "A"]),  # first slot won twice: orders disagree -> tie in practice
               record("loss", ["B", "A"], ["A", "B"]),
               record("tie", ["A"], ["tie"]),
               record(None, ["A"], [None], error="no verdict")]
    s = summarize("s", records)
    assert (s.n, s.errors, s.wins, s.ties, s.losses) == (3, 1, 1, 1, 1)
    assert s.win_rate == pytest.approx(0.5)
    assert s.first_slot_rate == pytest.approx(3 / 4) and s.first_slot_n == 4
    assert s.flipped == 1 and s.samples == 2 and s.flip_rate == pytest.approx(1 / 3) and s.unstable
    assert s.needed_n is not None and s.needed_n > 3


def test_length_controlled_win_rate_removes_a_pure_length_effect():
    import math

    rng = random.Random(0)
    # A judge that only likes length (P(win) rises with the length difference, 50% at equal length),
    # facing a candidate that is usually longer: the raw win rate is high, at equal length it is ~50%.
    diffs = [rng.gauss(150, 200) for _ in range(2000)]
    values = [1.0 if rng.random() < 1 / (1 + math.exp(-3 * math.tanh(d / 200))) else 0.0 for d in diffs]
    raw = sum(values) / len(values)
    lc = length_controlled_win_rate(values, diffs)
    assert raw > 0.7
    assert lc == pytest.approx(0.5, abs=0.06)


def test_length_controlled_needs_varying_lengths():
    assert length_controlled_win_rate([1, 0, 1, 0], [5, 5, 5, 5]) is None
    assert length_controlled_win_rate([1, 0], [1, 2]) is None


# --- templates ------------------------------------------------------------------------------------


def test_template_hash_follows_rubric_and_format():
    default = templates.pairwise()
    assert default.sha256 == templates.pairwise().sha256
    assert templates.pairwise("Prefer the kinder answer.").sha256 != default.sha256
    assert templates.pairwise(reasoning=False).sha256 != default.sha256
    assert templates.pairwise(reasoning=False).prefix == "[["
    assert "[[A]]" in default.system and "Prefer" in templates.pairwise("Prefer x").system
    with pytest.raises(ValueError, match="non-empty"):
        templates.pairwise("  ")


# --- label files ----------------------------------------------------------------------------------


def test_labels_in_three_formats(tmp_path):
    rows = [{"input": "q1", "output_1": "a", "output_2": "b", "label": 1},
            {"question": "q2", "response_a": "a", "response_b": "b", "winner": "B"},
            {"prompt": "q3", "answer_a": "a", "answer_b": "b", "label": "tie"}]
    (tmp_path / "l.json").write_text(json.dumps(rows))
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "l.csv").write_text("input,output_1,output_2,label\nq1,a,b,1\nq2,a,b,2\nq3,a,b,C\n")
    for name in ("l.json", "l.jsonl", "l.csv"):
        assert [p.label for p in load(tmp_path / name)] == ["1", "2", "tie"], name


def test_label_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "q", "output_1": "a", "output_2": "b", "label": 1}\n'
                    '{"input": "q", "output_1": "a", "output_2": "b", "label": "maybe"}\n')
    with pytest.raises(LabelsError, match=r"bad.jsonl:2: label 'maybe'"):
        load(path)
    path.write_text('{"input": "q", "output_1": "a", "label": 1}\n')
    with pytest.raises(LabelsError, match=r"bad.jsonl:1: no output_2"):
        load(path)
    (tmp_path / "bad.csv").write_text("input,output_1,output_2,label\nq,a,b,1\nq,a,b,\n")
    with pytest.raises(LabelsError, match=r"bad.csv:3: no label"):
        load(tmp_path / "bad.csv")
    with pytest.raises(LabelsError, match="must be .json"):
        (tmp_path / "x.txt").write_text("x")
        load(tmp_path / "x.txt")


def test_the_shared_llmbar_sets_load(shared_data):
    for name in ("Natural", "MT-Bench", "Adversarial/Neighbor"):
        pairs = load(shared_data / "llmbar" / name / "dataset.json")
        assert pairs and {p.label for p in pairs} <= {"1", "2"}


# --- the judged steps, with a scripted judge --------------------------------------------------------


class ScriptedPredictor:
    """Answers generate requests from a script per prompt substring: the unit under test is the steps logic."""

    def __init__(self, script):
        self.script = script
        self.requests = []

    def generate(self, requests, samples, truncate=None):
        from pytest_modeleval.runtime.predictor import Prediction

        self.requests += list(zip(requests, samples))
        out = []
        for request, sample in zip(requests, samples):
            answers = next(v for k, v in self.script.items() if k in request.prompt)
            out.append(Prediction(answers[min(sample, len(answers) - 1)], 1, 1, False))
        return out


def run_steps(declaration, fields, script, judge_hash="j" * 64):
    from pytest_modeleval.items import Item
    from pytest_modeleval.runtime.planner import Planned, Planner

    predictor = ScriptedPredictor(script)
    planner = Planner(lambda role: predictor, lambda prompt, chat, role="model": str(prompt), seed=0,
                      judge_hash=judge_hash)
    item = Item(suite="s", index=0, fields=fields)
    planned = Planned(declaration.steps(item, planner.context("s", False)))
    planner.execute([planned])
    return planned.value, predictor.requests


def test_graded_reads_a_rating_after_a_retry():
    from pytest_modeleval import Graded

    judgment, requests = run_steps(Graded("{q}", scale=5), {"q": "Why?"},
                                   {"[Answer]": ["I would say good", "Rating: [[4]]"], "Why?": ["Because."]})
    assert judgment.rating == 4 and judgment.score == 0.75 and judgment.attempts == 2 and judgment.error is None
    judge_calls = [(r, s) for r, s in requests if "[Answer]" in r.prompt]
    assert [(r.temperature, s) for r, s in judge_calls] == [(0.0, 0), (0.7, 1)]  # a greedy retry would repeat
    assert all(r.tag == Graded("{q}", scale=5).template().sha256 for r, _ in judge_calls)


def test_pairwise_error_after_retries_is_never_a_result():
    from pytest_modeleval import Pairwise

    judgment, requests = run_steps(Pairwise("{q}", reference="{r}", retries=1), {"q": "Q?", "r": "ref"},
                                   {"[Answer A]": ["[[A]] or [[B]]"], "Q?": ["cand"]})
    assert judgment.error and "several verdicts" in judgment.error and judgment.attempts == 2
    assert judgment.outcome is None and judgment.win_value is None


def test_pairwise_both_orders_disagreeing_is_a_tie():
    from pytest_modeleval import Pairwise

    judgment, _ = run_steps(Pairwise("{q}", reference="{r}", both_orders=True), {"q": "Q?", "r": "ref"},
                            {"[Answer A]": ["[[A]]"], "Q?": ["cand"]})  # always the first slot: order-dependent
    assert sorted(judgment.candidate_slots) == ["A", "B"] and judgment.slot_verdicts == ["A", "A"]
    assert judgment.outcome == "tie" and judgment.orders_disagree


# --- judge-consistent baselines (judge/rejudge.py) ------------------------------------------------


def run_steps_with_baseline(declaration, fields, script, baseline_row):
    from pytest_modeleval.items import Item
    from pytest_modeleval.runtime.planner import Planned, Planner

    predictor = ScriptedPredictor(script)
    planner = Planner(lambda role: predictor, lambda prompt, chat, role="model": str(prompt), seed=0,
                      judge_hash="j" * 64, baseline_judgment=lambda suite, item, kind: baseline_row)
    item = Item(suite="s", index=0, fields=fields)
    planned = Planned(declaration.steps(item, planner.context("s", False)))
    planner.execute([planned])
    return planned.value, predictor.requests


def baseline_row(template_sha256, **fields):
    return {"run_id": 1, "suite": "s", "test_id": "t::s-0-p0", "item_id": "s-0000-p0", "variant": 0,
            "kind": "rating", "judge_hash": "j" * 64, "template_sha256": template_sha256, "question": "Why?",
            "candidate": "OLD ANSWER", "reference": None, **fields}


def test_a_baseline_judged_with_another_template_is_judged_again_in_the_same_rounds():
    from pytest_modeleval import Graded

    declaration = Graded("{q}", scale=5)
    script = {"OLD ANSWER": ["unsure", "[[2]]"], "[Answer]": ["[[4]]"], "Why?": ["Because."]}
    judgment, requests = run_steps_with_baseline(declaration, {"q": "Why?"}, script, baseline_row("other-template"))
    assert judgment.rating == 4 and judgment.attempts == 1  # this run's answer, read at once
    again = judgment.rejudged_baseline
    assert again["rating"] == 2 and again["attempts"] == 2 and again["error"] is None  # the baseline's, retried
    assert (again["run_id"], again["test_id"], again["template_sha256"]) == (1, "t::s-0-p0",
                                                                              declaration.template().sha256)
    judge_prompts = [r.prompt for r, _ in requests if "[Answer]" in r.prompt]
    assert len(judge_prompts) == 3 and sum("OLD ANSWER" in p for p in judge_prompts) == 2
    assert "rejudged_baseline" not in judgment.record()


def test_a_baseline_judged_by_the_same_judge_or_without_its_answer_is_not_judged_again():
    from pytest_modeleval import Graded

    declaration = Graded("{q}", scale=5)
    script = {"[Answer]": ["[[4]]"], "Why?": ["Because."]}
    for row in (baseline_row(declaration.template().sha256), baseline_row("other", candidate=None)):
        judgment, requests = run_steps_with_baseline(declaration, {"q": "Why?"}, script, row)
        assert judgment.rejudged_baseline is None and not any("OLD" in r.prompt for r, _ in requests)


def test_the_gates_compare_a_rejudged_baseline_under_this_runs_judge(tmp_path):
    import json

    from pytest_modeleval.gates.baseline import Baseline
    from pytest_modeleval.gates.evaluate import evaluate
    from pytest_modeleval.gates.rules import parse
    from pytest_modeleval.judge.rejudge import annotate, judge_consistent
    from pytest_modeleval.results.store import Store

    store = Store(tmp_path / "r.sqlite")
    old, new = ("j" * 64, "t1" * 32), ("j" * 64, "t2" * 32)
    ids = [f"s-{i:04d}-p0" for i in range(30)]
    for i, item_id in enumerate(ids):
        store.add_judgment(1, {"suite": "s", "test_id": f"t::{item_id}", "item_id": item_id, "variant": 0,
                               "judgment": {"kind": "pairwise", "judge_hash": old[0], "template_sha256": old[1],
                                            "question": "q", "candidate": "c", "reference": "r", "win_value": 1.0}})
        store.add_rejudgment(2, {"run_id": 1, "suite": "s", "test_id": f"t::{item_id}", "item_id": item_id,
                                 "variant": 0, "kind": "pairwise", "judge_hash": new[0], "template_sha256": new[1],
                                 "win_value": 0.0 if i < 20 else 1.0, "outcome": "loss" if i < 20 else "win"})
    # the old judge liked everything (win 1.0); this run's judge, on the same old answers, mostly not
    before = [{"suite": "s", "item_id": i, "outcome": "correct", "score": 1.0, "metrics": json.dumps({"win_rate": 1.0})}
              for i in ids]
    now = [{"suite": "s", "item_id": i, "outcome": "correct", "score": 1.0, "metrics": {"win_rate": 0.0 if n < 20 else 1.0}}
           for n, i in enumerate(ids)]
    rules = parse({"win-regression": {"metric": "win_rate", "margin": 0.05}, "win-rate": False})
    baseline = Baseline(1, "m" * 64, "run 1", before)

    naive = evaluate(rules, now, baseline)  # across judges: a 67-point "fall" that is the judges' doing
    assert {r.rule.name: r.verdict for r in naive.results}["win-regression"] == "fail"

    consistent, comparisons = judge_consistent(store.db, baseline, {"s": {new}}, {"s": "pairwise"})
    report = evaluate(rules, now, consistent)
    annotate(report.results, comparisons, consistent)
    verdicts = {r.rule.name: r for r in report.results}
    # no fall under one judge (30 items cannot show a 5-point margin, so the gate says it is underpowered)
    assert verdicts["win-regression"].verdict == "underpowered" and verdicts["win-regression"].delta == 0.0
    assert "re-judged (30 items; its own judge was sha256:jjjjjjjjjjjj (template t1t1t1t1t1t1)" in \
        verdicts["win-regression"].message
    score = verdicts["no-regression"]  # the test's assertion, not recomputable: n/a, no figures shown
    assert score.verdict == "n/a" and score.value is None and "cannot be recomputed" in score.message

    store.db.execute(sa.delete(tables()["rejudgments"]))
    consistent, comparisons = judge_consistent(store.db, baseline, {"s": {new}}, {"s": "pairwise"})
    report = evaluate(rules, now, consistent)
    annotate(report.results, comparisons, consistent)
    gate = {r.rule.name: r for r in report.results}["win-regression"]
    assert gate.verdict == "n/a" and "the baseline's answers are not stored" in gate.message
    assert "template t1t1t1t1t1t1" in gate.message and "template t2t2t2t2t2t2" in gate.message
    store.close()
