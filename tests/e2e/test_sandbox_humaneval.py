"""All 164 canonical HumanEval solutions pass in the sandbox, and the same programs with a corrupted body fail.

Each task runs as prompt + canonical_solution, then its tests: test + check(entry_point), the
concatenation HumanEval prescribes. Two runs at a time, as on a 2-core CI machine.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_modeleval.sandbox import Sandbox
from testpaths import SHARED_DATA

HUMANEVAL = SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz"
CORRUPTED_BODY = "    return None\n"


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    if not HUMANEVAL.is_file():
        pytest.skip("HumanEval data (../shared/data/humaneval/HumanEval.jsonl.gz next to the repo) is absent")
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def run_all(tasks: list[dict], body) -> dict[str, object]:
    box = Sandbox("bwrap")
    box.describe()

    def one(task):
        tests = f"{task['test']}\ncheck({task['entry_point']})\n"
        return task["task_id"], box.run(task["prompt"] + body(task), tests)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, tasks))


def test_every_canonical_solution_passes(tasks):
    results = run_all(tasks, lambda task: task["canonical_solution"])
    assert len(results) == 164
    wrong = {task: (r.outcome, r.message) for task, r in results.items() if r.outcome != "passed"}
    assert not wrong


def test_every_corrupted_solution_fails(tasks):
    results = run_all(tasks, lambda task: CORRUPTED_BODY)
    assert len(results) == 164
    assert Counter(r.outcome for r in results.values()) == {"failed": 164}
