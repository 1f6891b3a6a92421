"""The run's CI pages through pytest (plugin/ci_summary.py) with suites that never call the model (fractions of a
second): the option checked at start, a summary that cannot be written, annotations in report mode. The summary of
a real checkpoint blocked by its gates is tests/e2e/test_gates_e2e.py's."""

from __future__ import annotations

import json

from pytest_modeleval.cli import main as modeleval

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_x(item):
    assert item["answer"] == 42
"""


def write(pytester, answer: int) -> None:
    (pytester.path / "data.jsonl").write_text("".join(json.dumps({"answer": answer}) + "\n" for _ in range(10)))
    (pytester.path / "test_demo_ci.py").write_text(SUITE)


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", *args)


def test_the_option_is_checked_at_start_and_a_summary_that_cannot_be_written_keeps_the_exit_status(pytester,
                                                                                                    monkeypatch):
    write(pytester, 42)
    bad = run(pytester, "--eval-summary-md=nowhere/summary.md")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*invalid value for --eval-summary-md: '*summary.md' (its directory *nowhere does "
                              "not exist)*"])
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "gone" / "step_summary"))
    unwritable = run(pytester)
    assert unwritable.ret == 0, unwritable.stdout.str()  # the run is recorded; a report is no verdict
    unwritable.stdout.fnmatch_lines(["modeleval: the markdown summary (GITHUB_STEP_SUMMARY) could not be written to "
                                     "*step_summary: No such file or directory; the run is recorded as run 1 and its "
                                     "exit status is unchanged (0)"])


def test_failed_gates_are_annotated_and_summarised_and_only_warn_in_report_mode(pytester, monkeypatch):
    write(pytester, 42)
    assert run(pytester).ret == 0
    assert modeleval(["promote", "embedded", "--db", ".modeleval/results.sqlite"]) == 0
    write(pytester, 41)  # every item wrong now: the no-regression gate fails
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run(pytester, "--eval-summary-md=summary.md", "--eval-gate-mode=report")
    assert result.ret == 0, result.stdout.str()  # report mode: the exit status is pytest's (wrong answers pass)
    lines = result.stdout.lines
    assert [line for line in lines if line.startswith("::")] == [
        "::warning file=test_demo_ci.py,title=modeleval gate no-regression[demo] failed::no-regression[demo]: score "
        "fell 100.0 pts against baseline run 1 (100.0%25 -> 0.0%25 on 10 paired items): more than the 1-point "
        "margin, and significant (McNemar exact p=0.002, Holm-adjusted p=0.002 over 1 regression gate < 0.05)"]
    assert lines[-2].startswith("modeleval: markdown summary appended to ") and lines[-2].endswith("summary.md")
    page = (pytester.path / "summary.md").read_text()
    assert "**GATES FAILED: 1 of 1 (report mode: exit status unchanged)**" in page
    assert "| demo | 10 | 0 |" in page  # ten items right in the baseline and wrong now
