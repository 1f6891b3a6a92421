"""The run-feature protocol (runtime/features.py): a feature a third-party plugin adds through the
`pytest_modeleval_features` hook (here a pytester conftest) takes part in a session without the session,
the planner or the gate keeper naming it: it provides a value to planning that its declaration reads,
its payload crosses, its rows are recorded with the run's id, it adds summary lines, adds a metric to the
rows the gates read and adjusts a gate (the exit status follows)."""

from __future__ import annotations

import json

from evalkit import query  # evalkit also loads the C extensions before any in-process run

SUITE = """
import pytest_modeleval as modeleval
from toy_feature import ToyAsk

@modeleval.suite("demo", data="data.jsonl", request=ToyAsk("{question}", max_tokens=4))
def test_demo(item, completion):
    assert completion.startswith("toy-engine: Toy asks: ")
"""
TOY = '''
import json
from dataclasses import dataclass
from pathlib import Path

from pytest_modeleval.engines.base import EngineInfo, GenerateRequest
from pytest_modeleval.runtime.declare import Ask, Generate, fill
from pytest_modeleval.runtime.features import RunFeature


@dataclass(frozen=True)
class ToyAsk(Generate):
    """A declaration that reads what the toy feature provides to planning."""

    def steps(self, item, ctx):
        prompt = ctx.render(ctx.toy_prefix + fill(self.prompt, item))
        (answer,) = yield [Ask(prompt, GenerateRequest(prompt, max_tokens=self.max_tokens, seed=ctx.seed))]
        return answer


class Toy(RunFeature):
    def __init__(self, model=None):
        self.model = model
        self.seen = []
        self.recorded = []

    @classmethod
    def for_run(cls, run):
        return cls(run.pool.resolved.ref)

    def planning(self, rules):
        return {"toy_prefix": "Toy asks: "}

    def payload(self, item):
        return {"toy": item.name}

    def collect(self, payload):
        self.seen.append(payload["toy"])

    def record_outcome(self, store, run_id, payload):
        self.recorded.append(run_id)

    def record(self, store, run_id, completed=True):
        Path("toy_record.json").write_text(json.dumps({"run_id": run_id, "outcomes": self.recorded,
                                                       "completed": completed, "model": self.model}))

    def summary_lines(self):
        return [f"toy: {len(self.seen)} outcomes", ("toy: a red line", {"red": True})]

    def gate_rows(self, rows):
        return [{**row, "metrics": {**(row.get("metrics") or {}), "toy_flag": 1.0}} for row in rows]

    def adjust_gates(self, report, rules, baseline):
        for result in report.results:
            if result.rule.name == "no-regression":  # n/a on a first run: nothing to compare with
                result.verdict, result.message = "fail", "the toy says no"


class ToyEngine:
    """Answers with its prompt, so the test sees what the planner asked."""

    def __init__(self, resolved):
        self.info = EngineInfo(kind="toy", version="1", model_hash=resolved.sha256, dtype="float32")

    def render(self, prompt, chat):
        return prompt

    def generate(self, requests):
        return [f"toy-engine: {r.prompt}" for r in requests]

    def count_tokens(self, text):
        return len(text.split())
'''
CONFTEST = """
from toy_feature import Toy, ToyEngine


def pytest_modeleval_features(config):
    return [Toy]


def pytest_modeleval_make_engine(resolved, settings):
    return ToyEngine(resolved)
"""
GATES = """
[tool.modeleval.gates.toy-gate]
metric = "toy_flag"
max = 0.5
"""


def write_project(pytester, rows: int, conftest: str = CONFTEST):
    (pytester.path / "data.jsonl").write_text("".join(json.dumps({"question": f"q{i}?"}) + "\n" for i in range(rows)))
    pytester.makepyfile(test_toy=SUITE, toy_feature=TOY)
    pytester.makeconftest(conftest)
    pytester.makepyprojecttoml(GATES)
    pytester.syspathinsert()


def test_a_feature_from_a_plugin_is_planned_recorded_summarized_and_gated(pytester):
    write_project(pytester, 3)
    db = pytester.path / "results.sqlite"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", f"--eval-db={db}")
    result.stdout.fnmatch_lines(["*modeleval summary*", "toy: 3 outcomes", "toy: a red line",
                                 "*modeleval gates*", "*no-regression*the toy says no*"])
    assert "toy-gate" in result.stdout.str()  # a rule on the metric only the feature's gate rows carry
    assert result.ret == 10  # the gates the toy decided block the run (alone they are n/a: exit status 0)
    assert result.parseoutcomes()["passed"] == 3  # each answer was planned from the value the toy provided
    (run,) = query(db, "SELECT id FROM runs")
    recorded = json.loads((pytester.path / "toy_record.json").read_text())
    assert recorded == {"run_id": run["id"], "outcomes": [run["id"]] * 3, "completed": True, "model": "embedded"}
    verdicts = {row["gate"]: row["verdict"] for row in query(db, "SELECT gate, verdict FROM gates")}
    assert verdicts["toy-gate"] == "fail" and verdicts["no-regression"] == "fail"


def test_without_the_hook_the_feature_takes_no_part(pytester):
    """The engine alone: nothing provides the declaration's value, so its item is an error that says so."""
    write_project(pytester, 1, conftest=CONFTEST.replace("    return [Toy]", "    return []"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", "--eval-gate-mode=off")
    out = result.stdout.str()
    assert "toy:" not in out and not (pytester.path / "toy_record.json").exists()
    assert "PlanContext has no 'toy_prefix': no feature of this run provides it to planning" in out
    assert result.ret == 1
