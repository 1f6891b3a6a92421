"""The run-feature protocol (runtime/features.py): a feature added by one line to FEATURES takes part in a
session without the session or the gate keeper naming it: its payload crosses, it adds summary lines
and it adjusts a gate (the exit status follows)."""

from __future__ import annotations

import json

import sqlite_utils  # noqa: F401  (before any in-process run: see evalkit.py)

import pytest_modeleval.runtime.features as features

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_demo(item):
    assert item["answer"] == 42
"""
TOY = '''
from pytest_modeleval.runtime.features import RunFeature


class Toy(RunFeature):
    def __init__(self):
        self.seen = []

    def payload(self, item):
        return {"toy": item.name}

    def collect(self, payload):
        self.seen.append(payload["toy"])

    def summary_lines(self):
        return [f"toy: {len(self.seen)} outcomes", ("toy: a red line", {"red": True})]

    def adjust_gates(self, report, rules, baseline):
        for result in report.results:
            if result.rule.name == "no-regression":  # n/a on a first run: nothing to compare with
                result.verdict, result.message = "fail", "the toy says no"
'''


def test_a_feature_named_in_features_adds_its_lines_and_decides_a_gate(pytester, monkeypatch):
    (pytester.path / "data.jsonl").write_text("".join(json.dumps({"answer": 42}) + "\n" for _ in range(3)))
    pytester.makepyfile(test_toy=SUITE, toy_feature=TOY)
    pytester.syspathinsert()
    monkeypatch.setattr(features, "FEATURES", (*features.FEATURES, "toy_feature:Toy"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded")
    result.stdout.fnmatch_lines(["*modeleval summary*", "toy: 3 outcomes", "toy: a red line",
                                 "*modeleval gates*", "*no-regression*the toy says no*"])
    assert result.ret == 10  # the gate the toy failed blocks the run (alone it is n/a: exit status 0)


def test_without_the_line_the_feature_takes_no_part(pytester):
    (pytester.path / "data.jsonl").write_text(json.dumps({"answer": 42}) + "\n")
    pytester.makepyfile(test_toy=SUITE, toy_feature=TOY)
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded")
    assert "toy:" not in result.stdout.str() and result.ret == 0
