"""The example suites' data: what make_data.py writes, large enough for a paired gate, every answer right.

No model runs here: the suites' runs are test_examples.py's (on a few items) and the demo's.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re

import pytest
from testpaths import REPO

from pytest_modeleval.perturb.library import CANDIDATES_PER_VARIANT
from pytest_modeleval.perturb.numeric import NumericGSM8K

DATA = REPO / "example_suites" / "data"
PAIRED = 200  # items a regression gate pairs in each suite, at least (issue 26, item 7)
VARIANTS = 3  # test_arithmetic.py's perturbations=3


@pytest.fixture(scope="module")
def make_data():
    spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_files_are_what_make_data_writes(make_data):
    for name, text in make_data.texts().items():
        assert (DATA / name).read_text(encoding="utf-8") == text, f"{name}: run example_suites/data/make_data.py"


def test_arithmetic_answers_are_their_chains_and_each_item_has_its_variants():
    rows = [json.loads(line) for line in (DATA / "arithmetic.jsonl").read_text().splitlines()]
    assert len(rows) * (1 + VARIANTS) >= PAIRED
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        steps = re.findall(r"<<([\d+\-*/ ]+)=(\d+)>>", row["answer"])
        assert steps and all(eval(expr, {"__builtins__": {}}) == int(value) for expr, value in steps), row  # noqa: S307
        assert row["answer"].endswith(f"#### {steps[-1][1]}"), row
        # the candidates the variant library draws at the default seed, before its embedding screen keeps 3
        candidates = NumericGSM8K().variants(row, CANDIDATES_PER_VARIANT * VARIANTS, seed=0)
        assert len(candidates) >= VARIANTS, row["question"]


def test_facts_mc_has_four_distinct_choices_and_one_answer():
    with open(DATA / "facts_mc.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= PAIRED
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        choices = [row[f"choice{i}"] for i in range(4)]
        assert len(set(choices)) == 4 and row["answer"] in "0123", row
