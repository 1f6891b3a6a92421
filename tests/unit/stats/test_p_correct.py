"""`p_correct` for multiple-choice suites: the softmax of the choices' loglikelihoods, read at the right
answer, recorded per item in the outcomes table; checked against the loglikelihoods the same row stores."""

from __future__ import annotations

import json
import math

import pytest

from evalkit import MC_ROWS, RESULTS_DB, one_thread_engine, outcomes, run, setup_suite
from pytest_modeleval import Choices
from pytest_modeleval.engines.base import Loglikelihood
from pytest_modeleval.items import Item
from pytest_modeleval.stats.pcorrect import p_correct, softmax


def test_softmax_is_stable_and_sums_to_one():
    probabilities = softmax([-1000.0, -1001.0, -1003.0])  # exp(-1000) alone underflows to 0
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[0] == pytest.approx(1 / (1 + math.exp(-1) + math.exp(-3)))
    assert p_correct([0.0, 0.0, 0.0, 0.0], 2) == pytest.approx(0.25)
    assert p_correct([0.0, 0.0, 0.0, 0.0], [1, 2]) == pytest.approx(0.5)  # several right answers


def item(**fields) -> Item:
    return Item("mc", 0, fields)


def test_the_right_choice_is_an_index_or_a_choice_text():
    choices = Choices("Q: {q}\nA:", [" blue", " green", " red"], answer="{answer}")
    assert choices.gold(item(q="sky", answer=0)) == 0  # "{answer}" formats the index as text
    assert Choices("{q}", [" blue", " green"], answer=lambda it: it["answer"]).gold(item(q="x", answer=1)) == 1
    assert Choices("{q}", [" blue", " green"], answer="{label}").gold(item(q="x", label="green")) == 1
    lls = [Loglikelihood(-1.0, False), Loglikelihood(-2.0, False), Loglikelihood(-3.0, False)]
    assert choices.p_correct(item(q="sky", answer=1), lls) == pytest.approx(math.exp(-2) / sum(
        math.exp(v) for v in (-1, -2, -3)))
    with pytest.raises(ValueError, match=r"item mc-0000-p0: 3 is not a choice index \(0 to 2\)"):
        choices.gold(item(q="x", answer=3))
    with pytest.raises(ValueError, match="item mc-0000-p0: 'purple' is not the index or the text of one choice"):
        Choices("{q}", [" blue", " green"], answer="{label}").gold(item(q="x", label="purple"))


MC_WITH_ANSWER = """
@modeleval.suite("mc", data="mc.jsonl",
                 request=modeleval.Choices("Question: {question}\\nAnswer:", [" blue", " green", " red"],
                                           answer="{answer}"))
def test_mc(item, choice):
    assert choice == item["answer"]


@modeleval.suite("mc_plain", data="mc.jsonl",
                 request=modeleval.Choices("Question: {question}\\nAnswer:", [" blue", " green", " red"]))
def test_mc_plain(item, choice):
    assert choice == item["answer"]
"""


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def test_choices_suites_record_p_correct_from_their_loglikelihoods(pytester, engine):
    setup_suite(pytester, MC_WITH_ANSWER, MC_ROWS, data="mc.jsonl", counting=False)
    result = run(pytester)
    assert result.ret in (0, 1), result.stdout.str()
    rows = outcomes(pytester.path / RESULTS_DB)
    answered = [r for r in rows if r["suite"] == "mc"]
    assert len(answered) == len(MC_ROWS)
    for row in answered:
        source = MC_ROWS[int(row["item_id"].split("-")[1])]
        stored = [logprob for logprob, _ in json.loads(row["response"])]  # what the outcome row keeps
        expected = math.exp(stored[source["answer"]]) / sum(math.exp(v) for v in stored)
        assert row["p_correct"] == pytest.approx(expected, abs=1e-5)
        # the probability is highest on the choice the accuracy counts
        most_likely = max(range(len(stored)), key=lambda i: (stored[i], -i))
        assert row["outcome"] == ("correct" if most_likely == source["answer"] else "wrong")
    assert all(r["p_correct"] is None for r in rows if r["suite"] == "mc_plain")  # no answer= declared
    mean = sum(r["p_correct"] for r in answered) / len(answered)
    assert f"mc     p_correct  {len(answered)}  {mean:.4f}" in result.stdout.str()  # the summary's metric table


class FakeTask:
    """The parts of an lm-eval multiple-choice task that p_correct reads."""

    OUTPUT_TYPE = "multiple_choice"
    multiple_input = False

    def __init__(self, choices, gold):
        self.config = type("Config", (), {"process_results": None})()
        self._choices, self._gold = choices, gold

    def doc_to_choice(self, doc):
        return self._choices

    def doc_to_target(self, doc):
        return self._gold


def lm_eval_p_correct(choices, gold, lls, metric):
    from pytest_modeleval.suites.lmeval import TaskRequests

    requests = TaskRequests.__new__(TaskRequests)
    requests._tasks = {"t": FakeTask(choices, gold)}
    requests._instances = {("t", 0): [type("Instance", (), {"doc": {}})()]}
    requests._lock = __import__("threading").Lock()
    return requests.p_correct({"lm_eval_task": "t", "lm_eval_doc_id": 0}, [(ll, False) for ll in lls], metric)


def test_lm_eval_tasks_normalise_as_their_deciding_metric():
    choices, lls = ["a", "bbbb"], [-2.0, -4.0]
    assert lm_eval_p_correct(choices, 1, lls, "acc,none") == pytest.approx(p_correct([-2.0, -4.0], 1))
    # acc_norm compares loglikelihood per character: -2/1 against -4/4, so "bbbb" is the likelier one
    assert lm_eval_p_correct(choices, 1, lls, "acc_norm,none") == pytest.approx(p_correct([-2.0, -1.0], 1))
    assert lm_eval_p_correct(["é", "ab"], 0, lls, "acc_bytes,none") == pytest.approx(p_correct([-1.0, -2.0], 0))
    assert lm_eval_p_correct(choices, "bbbb", lls, "acc,none") == pytest.approx(p_correct(lls, 1))  # gold as text
    assert lm_eval_p_correct(choices, 5, lls, "acc,none") is None  # a gold naming no choice: none recorded
