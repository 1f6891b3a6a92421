"""The ready suites' data readers and graders, without a model: published formats, clear errors,
and HumanEval's tests run in the real sandbox. (Their prompts and outcomes against lm-eval's are
checked in test_lmeval_fidelity.py.)"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pytest_modeleval.items import DataError
from pytest_modeleval.sandbox import Sandbox
from pytest_modeleval.suites import formats, sources
from pytest_modeleval.suites.humaneval import check
from testpaths import SHARED_DATA



def test_mmlu_reads_the_published_and_the_indexed_csv(tmp_path):
    for split in ("test", "dev"):
        (tmp_path / split).mkdir()
    (tmp_path / "test" / "astronomy_test.csv").write_text('"What is a star?",gas,rock,ice,"a planet, mostly",A\n')
    (tmp_path / "test" / "virology_test.csv").write_text(
        'question,choice0,choice1,choice2,choice3,answer\n"Is a virus alive?",yes,no,"it\'s debated",maybe,2\n')
    assert formats.mmlu_subjects(tmp_path) == ["astronomy", "virology"]
    assert formats.mmlu_rows(tmp_path, "astronomy", "test") == [
        {"question": "What is a star?", "subject": "astronomy", "choices": ["gas", "rock", "ice", "a planet, mostly"],
         "answer": 0}]
    assert formats.mmlu_rows(tmp_path, "virology", "test")[0]["answer"] == 2


def test_mmlu_bad_rows_name_file_and_line(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "law_test.csv").write_text("q,a,b,c,d,A\nq2,a,b,c,d,E\n")
    with pytest.raises(DataError, match=r"law_test.csv:2: answer 'E' is neither A-D nor 0-3"):
        formats.mmlu_rows(tmp_path, "law", "test")
    (tmp_path / "test" / "law_test.csv").write_text("q,a,b,A\n")
    with pytest.raises(DataError, match=r"law_test.csv:1: expected 6 columns"):
        formats.mmlu_rows(tmp_path, "law", "test")
    with pytest.raises(DataError, match="MMLU file not found"):
        formats.mmlu_rows(tmp_path, "law", "dev")


def test_jsonl_rows_need_their_fields(tmp_path):
    path = tmp_path / "test.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"question": "2+2?", "answer": "#### 4"}) + "\n" + json.dumps({"question": "x"}) + "\n")
    with pytest.raises(DataError, match=r"test.jsonl.gz:2: missing field\(s\) answer"):
        formats.jsonl_rows(path, ("question", "answer"))


def test_a_data_dir_without_the_benchmark_says_what_it_expects(tmp_path):
    sources.set_data_dir(tmp_path)
    try:
        with pytest.raises(DataError, match=r"--eval-data-dir .*: no gsm8k/ in it"):
            sources.gsm8k_test()
    finally:
        sources.set_data_dir(None)


def test_mmlu_rows_are_keyed_by_subject_and_position(tmp_path):
    for split in ("test", "dev"):
        (tmp_path / "mmlu" / split).mkdir(parents=True)
    (tmp_path / "mmlu" / "test" / "anatomy_test.csv").write_text("q1,a,b,c,d,B\nq2,a,b,c,d,C\n")
    (tmp_path / "mmlu" / "dev" / "anatomy_dev.csv").write_text("d1,a,b,c,d,A\n")
    sources.set_data_dir(tmp_path)
    try:
        assert [row["key"] for row in sources.mmlu_test()] == ["anatomy-0000", "anatomy-0001"]
        assert [row["question"] for row in sources.mmlu_dev("anatomy")] == ["d1"]
    finally:
        sources.set_data_dir(None)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="reference benchmark data (../shared/data) is absent")
def test_humaneval_grading_passes_the_canonical_solution_and_fails_a_wrong_one():
    rows = formats.jsonl_rows(SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz", ("prompt", "test", "entry_point"))
    item = rows[0]
    sandbox = Sandbox()
    assert check(sandbox, item, item["canonical_solution"]).outcome == "passed"
    assert check(sandbox, item, "    return not True\n").outcome == "failed"
    assert check(sandbox, item, "    return (\n").outcome == "error"
