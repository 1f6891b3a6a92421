"""lm-eval tasks as suites: a user's own task YAMLs (include_path) with local data, their requests
planned through our engine, their filters and metrics applied as lm-eval applies them, every metric
recorded under lm-eval's name, and bad input reported clearly.

The suites run in a pytest process of their own, as a user runs them: lm-eval's task index is
built once there, and its imports stay out of this process's pytester runs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit import query, write_jsonl
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from pytest_modeleval.suites.lmeval import TaskError, _ask

GENERATION_TASK = """
task: capitals
dataset_path: json
output_type: generate_until
test_split: test
doc_to_text: "Q: What is the capital of {{country}}?\\nA:"
doc_to_target: "{{capital}}"
generation_kwargs:
  until: ["\\n", "."]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
filter_list:
  - name: first-words
    filter:
      - function: regex
        regex_pattern: "([A-Z][a-z]+)"
      - function: take_first
"""
CHOICE_TASK = """
task: colours
dataset_path: json
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: "{{answer}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""
SUITES = """
import pytest_modeleval as modeleval

test_capitals = modeleval.lm_eval_suite("capitals", include_path="tasks", data={"test": "capitals.jsonl"})
test_colours = modeleval.lm_eval_suite("colours", include_path="tasks", include_defaults=False,
                                       overrides={"dataset_kwargs": {"data_files": {"test": "COLOURS"}}})
test_loose = modeleval.lm_eval_suite("capitals", include_path="tasks", data={"test": "capitals.jsonl"},
                                     name="capitals_any", metric="exact_match,first-words")
test_file = modeleval.lm_eval_suite("tasks/capitals.yaml", data={"test": "capitals.jsonl"}, name="capitals_file")
test_bad = modeleval.lm_eval_suite("capitals", include_path="tasks", data={"test": "capitals.jsonl"},
                                   name="capitals_top_k", gen_kwargs={"top_k": 5})
"""
CAPITALS = [{"country": "France", "capital": "Paris"}, {"country": "Japan", "capital": "Tokyo"},
            {"country": "Italy", "capital": "Rome"}]
COLOURS = [{"question": "What colour is grass?", "choices": ["green", "purple"], "answer": 0},
           {"question": "What colour is snow?", "choices": ["black", "white"], "answer": 1}]


def pytest_run(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--model=embedded", "-p", "no:cacheprovider", *args],
                          cwd=where, capture_output=True, text=True, timeout=600)


def test_user_tasks_run_as_suites_with_their_own_metrics(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "capitals.yaml").write_text(GENERATION_TASK)
    (tmp_path / "tasks" / "colours.yaml").write_text(CHOICE_TASK)
    write_jsonl(tmp_path / "capitals.jsonl", CAPITALS)
    write_jsonl(tmp_path / "colours.jsonl", COLOURS)
    (tmp_path / "test_tasks.py").write_text(SUITES.replace("COLOURS", str(tmp_path / "colours.jsonl")))
    done = pytest_run(tmp_path, "test_tasks.py")
    assert done.returncode == 1, done.stdout + done.stderr  # the top_k suite's items are errors
    rows = {row["item_id"]: row for row in query(tmp_path / ".modeleval/results.sqlite", "SELECT * FROM outcomes")}
    assert sorted(rows) == [*(f"capitals-{i:04d}-p0" for i in range(3)), *(f"capitals_any-{i:04d}-p0" for i in range(3)),
                            *(f"capitals_file-{i:04d}-p0" for i in range(3)),
                            *(f"capitals_top_k-{i:04d}-p0" for i in range(3)), "colours-0000-p0", "colours-0001-p0"]
    for i in range(3):  # the task's filter and exact_match, named as lm-eval names them
        row = rows[f"capitals-{i:04d}-p0"]
        assert row["outcome"] in ("correct", "wrong")
        assert set(json.loads(row["metrics"])) == {"exact_match,first-words"}
        assert row["prompt"] == f"Q: What is the capital of {CAPITALS[i]['country']}?\nA:"
        for twin in ("capitals_any", "capitals_file"):  # the same task and requests: the same verdict
            assert rows[f"{twin}-{i:04d}-p0"]["outcome"] == row["outcome"]
        bad = rows[f"capitals_top_k-{i:04d}-p0"]
        assert bad["outcome"] == "error" and "top_k" in bad["message"]
    for i, row in enumerate(COLOURS):  # multiple choice: both metrics; acc decides
        outcome = rows[f"colours-{i:04d}-p0"]
        metrics = json.loads(outcome["metrics"])
        assert set(metrics) == {"acc,none", "acc_norm,none"}
        assert outcome["outcome"] == ("correct" if metrics["acc,none"] == 1.0 else "wrong")
        # lm-eval's target delimiter (" ") goes between the context and each choice
        assert json.loads(outcome["prompt"]) == [f"Question: {row['question']}\nAnswer: {c}" for c in row["choices"]]
        # p_correct: the softmax of the stored loglikelihoods (raw: acc decides), read at the answer
        stored = [logprob for logprob, _ in json.loads(outcome["response"])]
        expected = math.exp(stored[row["answer"]]) / sum(math.exp(v) for v in stored)
        assert outcome["p_correct"] == pytest.approx(expected, abs=1e-5)
    assert all(rows[f"capitals-{i:04d}-p0"]["p_correct"] is None for i in range(3))  # not multiple choice
    assert "acc_norm,none" in done.stdout and "exact_match,first-words" in done.stdout  # the summary's metric table


def test_an_unknown_task_is_a_collection_error_naming_it(tmp_path):
    (tmp_path / "test_tasks.py").write_text(
        "import pytest_modeleval as modeleval\ntest_x = modeleval.lm_eval_suite('no_such_task_anywhere')\n")
    done = pytest_run(tmp_path, "test_tasks.py")
    assert done.returncode == 2
    assert "lm-eval task 'no_such_task_anywhere'" in done.stdout


class Instance:
    """The fields of lm-eval's Instance that requests are built from."""

    def __init__(self, request_type, arguments):
        self.request_type, self.args = request_type, arguments


def test_instances_become_engine_requests():
    ask = _ask(Instance("loglikelihood", ("Q: 2+2?\nA:", " 4")), 0, 7, "t")
    assert ask.request == LoglikelihoodRequest("Q: 2+2?\nA:", " 4") and ask.prompt == "Q: 2+2?\nA: 4"
    assert _ask(Instance("loglikelihood_rolling", ("some text",)), 0, 7, "t").request == RollingRequest("some text")
    greedy = _ask(Instance("generate_until", ("ctx", {"until": "\n", "max_gen_toks": 5, "do_sample": False})), 0, 7, "t")
    assert greedy.request == GenerateRequest("ctx", max_tokens=5, temperature=0.0, stop=("\n",), seed=7)
    sampled = _ask(Instance("generate_until", ("ctx", {"until": [], "do_sample": True, "temperature": 0.7})), 2, 7, "t")
    assert (sampled.request.temperature, sampled.request.max_tokens, sampled.request.seed, sampled.sample) == (0.7, 256, 9, 2)


def test_unsupported_generation_settings_are_named():
    with pytest.raises(TaskError, match="generation setting.*top_k.*task 'gsm'|task 'gsm'.*top_k"):
        _ask(Instance("generate_until", ("ctx", {"until": [], "top_k": 4})), 0, 0, "gsm")
