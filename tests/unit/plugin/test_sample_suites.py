"""A suite with samples=K (issue 29, part 2), run by pytest on a toy engine whose answer names its seed: the
hand-made data says which samples of each item are right, so pass@1, pass^K, the flaky share and the gates'
per-item values are known by hand. `modeleval gate` on the recorded run gives the session's verdicts."""

from __future__ import annotations

import json

import pytest

from evalkit import query  # evalkit also loads the C extensions before any in-process run
from pytest_modeleval.stats import bootstrap_ci, wilson
from pytest_modeleval.util.text import pct

K = 4
# right: the samples (seeds 0 .. 3 at --eval-seed 0) the item gets right
FIRST = [[0, 1, 2, 3], [], [0, 2], [1], [0, 1, 2, 3], [0, 1, 3]]
# the second checkpoint: items 0, 4 and 5 fall, items 1 to 3 as before
SECOND = [[0], [], [0, 2], [1], [], [0]]
SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("flip", data="data.jsonl", samples=4,
                 request=modeleval.Generate("{question}", max_tokens=4, temperature=0.8))
def test_flip(item, completion):
    assert int(completion.removeprefix("seed")) in item["right"]
"""
CONFTEST = """
from pytest_modeleval.engines.base import EngineInfo


class SeedEngine:
    def __init__(self, resolved):
        self.info = EngineInfo(kind="seeds", version="1", model_hash=resolved.sha256, dtype="float32")

    def render(self, prompt, chat):
        return prompt

    def generate(self, requests):
        return [f"seed{r.seed}" for r in requests]

    def count_tokens(self, text):
        return len(text.split())


def pytest_modeleval_make_engine(resolved, settings):
    return SeedEngine(resolved)
"""
GATES = """
[tool.modeleval.gates.always]
metric = "pass^k"
min = 0.3

[tool.modeleval.gates.steady]
metric = "flaky"
max = 0.4
"""


def write(pytester, rights):
    rows = [{"question": f"q{i}?", "right": right} for i, right in enumerate(rights)]
    (pytester.path / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def shown(lo: float, hi: float) -> str:
    return f"[{pct(lo)}, {pct(hi)}]"


def verdicts(db, run_id):
    return {row["gate"]: (row["verdict"], row["value"], row["n"])
            for row in query(db, "SELECT gate, verdict, value, n FROM gates WHERE run_id = ?", run_id)}


def test_a_k_sample_suite_is_summarized_gated_per_item_and_regated_alike(pytester, monkeypatch):
    pytester.makepyfile(test_flip=SUITE)
    pytester.makeconftest(CONFTEST)
    pytester.makepyprojecttoml(GATES)
    db = pytester.path / "results.sqlite"
    run = ("-p", "no:cacheprovider", "--model=embedded", f"--eval-db={db}")
    write(pytester, FIRST)
    first = pytester.runpytest_inprocess(*run)
    assert first.parseoutcomes() == {"passed": 14, "wrong": 10}  # one test per item and sample: 24
    ids = [row["item_id"] for row in query(db, "SELECT item_id FROM outcomes WHERE run_id = 1 ORDER BY test_id")]
    assert ids[:K + 1] == [f"flip-0000-p0-s{k}" for k in range(K)] + ["flip-0001-p0-s0"]
    assert query(db, "SELECT samples FROM suites") == [{"samples": K}]
    # by hand: pass@1 = 14 of 24 samples; pass@4: all but item 1; pass^4: items 0 and 4; flaky: items 2, 3 and 5
    (line,) = [line.split() for line in first.stdout.lines if line.startswith("flip   4      6")]
    assert line[:4] == ["flip", "4", "6", "58.3%"] and [line[6], line[9], line[12]] == ["83.3%", "33.3%", "50.0%"]
    # the intervals are over the 6 items: Wilson for the 0/1 per-item values, the bootstrap of the 24 samples
    # clustered by item for pass@1 (the same as the bootstrap of the 6 per-item shares)
    assert " ".join(line[10:12]) == shown(*wilson(2, 6)) and " ".join(line[13:15]) == shown(*wilson(3, 6))
    samples = [int(k in right) for right in FIRST for k in range(K)]
    by_item = bootstrap_ci(samples, clusters=[i // K for i in range(len(samples))], seed=0)
    assert " ".join(line[4:6]) == shown(by_item.lo, by_item.hi)
    assert by_item == bootstrap_ci([len(right) / K for right in FIRST], seed=0)
    as_items = bootstrap_ci(samples, seed=0)  # the 24 samples taken for independent items: too narrow
    assert by_item.hi - by_item.lo > 1.3 * (as_items.hi - as_items.lo)
    assert verdicts(db, 1)["always"][:2] == ("pass", pytest.approx(2 / 6))
    assert verdicts(db, 1)["steady"] == ("fail", pytest.approx(3 / 6), 6)  # 6 items, not 24 samples
    assert first.ret == 10

    write(pytester, SECOND)
    second = pytester.runpytest_inprocess(*run, "--baseline=run:1")
    # 24 distinct predictions (a seed and a cache index per sample), all from the cache the second time
    assert "24 requests, 0.0% from cache; tokens computed 24 in" in first.stdout.str()
    assert "24 requests, 100.0% from cache" in second.stdout.str()
    session = verdicts(db, 2)
    # the regression gate pairs the 6 per-item means, 14/24 -> 5/24, with the paired bootstrap over items: the
    # mean difference is >= 0 only in a resample of the 3 unchanged items alone, (1/2)^6, so p is about 2/64
    # (McNemar's test on 24 samples taken for items would say 2 * (1/2)^9 = 0.004: too sure)
    assert session["no-regression"] == ("fail", pytest.approx(5 / 24), 6)
    (gate,) = query(db, "SELECT test, p_value FROM gates WHERE run_id = 2 AND gate = 'no-regression'")
    assert gate["test"] == "paired bootstrap" and 0.02 < gate["p_value"] < 0.05
    # flaky now: items 0, 2, 3 and 5; pass^4: none
    assert session["always"][:2] == ("fail", 0.0) and session["steady"][:2] == ("fail", pytest.approx(4 / 6))
    assert second.ret == 10

    from pytest_modeleval.cli import main as modeleval

    monkeypatch.chdir(pytester.path)
    assert modeleval(["gate", "2", "--baseline", "run:1", "--db", str(db)]) == 10
    assert verdicts(db, 2) == session
