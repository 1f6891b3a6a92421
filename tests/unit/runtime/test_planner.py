"""Plan-then-run: declared requests reach the engine in batches, batching never changes an answer,
deselection shrinks the plan, pytest-xdist workers share the work, and --eval-shard slices
merge back into one run.

Suites run the embedded model through pytester with the counting engine of evalkit.py,
which logs every engine call, so each test can tell exactly what the engine was asked.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter

import pytest

from evalkit import (MC_ROWS, MC_SUITE, RESULTS_DB, answers, computed_prompts,
                     engine_calls, gen_suite, one_thread_engine, outcomes, query, run, setup_suite, sums,
                     write_jsonl)
from pytest_modeleval import cli
from pytest_modeleval.plugin.collect import in_shard
from pytest_modeleval.items import Item



@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def prompts_of(rows) -> set[str]:
    return {row["prompt"] for row in rows}


# --- 5. batching is invisible ---------------------------------------------------------------------


def test_batch_size_does_not_change_any_answer(pytester, engine):
    """Batch size 1 and 16 (no cache): the same outcomes and the same responses, item by item."""
    setup_suite(pytester, gen_suite(max_tokens=12) + MC_SUITE, sums(8))
    write_jsonl(pytester.path / "mc.jsonl", MC_ROWS)
    runs = {}
    for size in ("1", "16"):
        result = run(pytester, "--eval-cache", "off", "--eval-batch-size", size, "--eval-db", f"b{size}.sqlite")
        assert result.ret == 0, result.stdout.str()
        runs[size] = outcomes(pytester.path / f"b{size}.sqlite")
        calls = engine_calls(pytester, kind=None)
        per_kind = Counter(call["kind"] for call in calls)
        if size == "1":  # one request per call; the choices of one question share one call (and one row)
            assert per_kind == {"generate": 8, "loglikelihood": 4}
        else:
            assert per_kind == {"generate": 1, "loglikelihood": 1}
    one, sixteen = runs["1"], runs["16"]
    assert len(one) == 12 and all(row["response"] for row in one)
    assert [(r["test_id"], r["outcome"], r["prompt"]) for r in one] == \
        [(r["test_id"], r["outcome"], r["prompt"]) for r in sixteen]
    # Completions are identical; a loglikelihood may move in the 6th decimal (float32 sums over
    # differently padded batches), never enough to change a choice or a greedy flag.
    assert [r["response"] for r in one if r["suite"] == "gen"] == \
        [r["response"] for r in sixteen if r["suite"] == "gen"]
    for a, b in zip((r for r in one if r["suite"] == "mc"), (r for r in sixteen if r["suite"] == "mc")):
        scores_a, scores_b = json.loads(a["response"]), json.loads(b["response"])
        assert [greedy for _, greedy in scores_a] == [greedy for _, greedy in scores_b]
        assert [logprob for logprob, _ in scores_a] == pytest.approx([logprob for logprob, _ in scores_b], abs=1e-4)


# --- 6. planning ----------------------------------------------------------------------------------


def test_declared_requests_go_to_the_engine_one_call_per_batch(pytester, engine):
    """8 items at batch size 4: exactly 2 generate calls of 4 prompts, not 8 calls of 1."""
    setup_suite(pytester, gen_suite(), sums(8))
    result = run(pytester, "--eval-cache", "off", "--eval-batch-size", "4")
    assert result.ret == 0, result.stdout.str()
    calls = engine_calls(pytester)
    assert [len(call["prompts"]) for call in calls] == [4, 4]
    assert set(computed_prompts(calls)) == prompts_of(outcomes(pytester.path / RESULTS_DB))
    assert len(set(computed_prompts(calls))) == 8


def test_deselection_and_limit_shrink_the_plan(pytester, engine):
    """Only the selected items' requests reach the engine: -k and --eval-limit."""
    setup_suite(pytester, gen_suite(), sums(8))
    db = pytester.path / RESULTS_DB

    result = run(pytester, "--eval-cache", "off", "-k", "gen-0001 or gen-0005")
    assert result.ret == 0, result.stdout.str()
    rows = outcomes(db)
    assert [row["item_id"] for row in rows] == ["gen-0001-p0", "gen-0005-p0"]
    assert sorted(computed_prompts(engine_calls(pytester))) == sorted(prompts_of(rows))

    result = run(pytester, "--eval-cache", "off", "--eval-limit", "3")
    assert result.ret == 0
    rows = outcomes(db)
    assert [row["item_id"] for row in rows] == [f"gen-{i:04d}-p0" for i in range(3)]
    assert sorted(computed_prompts(engine_calls(pytester))) == sorted(prompts_of(rows))


IMPERATIVE = """
@modeleval.suite("gen", data="gen.jsonl", chat=True,
                 request=modeleval.Generate("What is {a} + {b}?", max_tokens=8))
def test_gen(item, completion, model):
    again = model.generate(f"What is {item['a']} + {item['b']}?", max_tokens=8)
    assert again == completion
"""


def test_imperative_call_matching_a_declared_request_is_served_from_the_cache(pytester, engine):
    """model.generate with a declared request's prompt and settings: 0 extra engine calls."""
    setup_suite(pytester, IMPERATIVE, sums(8))
    result = run(pytester, "--eval-batch-size", "4")
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 8}  # the imperative answer equals the planned one
    assert [len(call["prompts"]) for call in engine_calls(pytester)] == [4, 4]
    rows = outcomes(pytester.path / RESULTS_DB)
    assert [(row["requests"], row["cache_hits"]) for row in rows] == [(2, 1)] * 8


# --- 7. pytest-xdist ------------------------------------------------------------------------------


def test_xdist_workers_compute_each_prediction_once(pytester, engine, monkeypatch):
    """Two workers share the cache and claim batches: every missing prompt is computed exactly once,
    and the run counts what either worker computed as computed (not as a cache hit), once."""
    pytest.importorskip("xdist")
    setup_suite(pytester, gen_suite(), sums(12))
    assert run(pytester, "--eval-limit", "4").ret == 0  # 4 answers cached by an earlier run
    earlier = set(computed_prompts(engine_calls(pytester)))
    assert len(earlier) == 4

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two torch processes on a small machine
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--model=embedded",
                                           "--eval-batch-size", "2", "--eval-db", "xdist.sqlite", timeout=300)
    assert result.ret == 0, result.stdout.str()
    calls = engine_calls(pytester)
    computed = Counter(computed_prompts(calls))
    assert len(computed) == 8 and set(computed.values()) == {1}, computed
    assert not set(computed) & earlier
    assert all(len(call["prompts"]) <= 2 for call in calls)

    db = pytester.path / "xdist.sqlite"
    [r] = query(db, "SELECT * FROM runs")
    rows = outcomes(db)
    assert [row["item_id"] for row in rows] == sorted(f"gen-{i:04d}-p0" for i in range(12))
    assert set(computed) | earlier == prompts_of(rows)
    assert [row["prompt"] in earlier for row in rows] == [bool(row["cache_hits"]) for row in rows]
    assert (r["requests"], r["cache_hits"]) == (12, 4)
    assert r["new_prompt_tokens"] == sum(engine.count_tokens(prompt) for prompt in computed)
    assert r["new_completion_tokens"] == sum(engine.count_tokens(row["response"]) for row in rows
                                             if row["prompt"] in computed)
    assert "12 requests, 33.3% from cache" in result.stdout.str()
    cache = pytester.path / ".modeleval" / "cache.sqlite"
    assert query(cache, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 12}]
    assert query(cache, "SELECT COUNT(*) AS n FROM prediction_claims") == [{"n": 0}]


# --- 8. --eval-shard and modeleval merge ----------------------------------------------------------

TWO_SUITES = """
@modeleval.suite("alpha", data=[{"answer": i} for i in range(30)])
def test_alpha(item):
    pass

@modeleval.suite("beta", data=[{"answer": i} for i in range(20)])
def test_beta(item):
    pass
"""


def collected(pytester, *args) -> list[str]:
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q", *args)
    assert result.ret == 0, result.stdout.str()
    return [line for line in result.outlines if "::" in line]


def test_shards_partition_every_suite(pytester):
    """1/3, 2/3 and 3/3 are disjoint, cover every item of every suite, and are the same on every run."""
    setup_suite(pytester, TWO_SUITES, counting=False)
    everything = collected(pytester)
    assert len(everything) == 50
    shards = [collected(pytester, "--eval-shard", f"{k}/3") for k in (1, 2, 3)]
    assert [collected(pytester, "--eval-shard", f"{k}/3") for k in (1, 2, 3)] == shards
    assert sorted(sum(shards, [])) == sorted(everything)  # union = all, and no item twice
    for suite in ("alpha", "beta"):
        sizes = [sum(f"[{suite}-" in test for test in shard) for shard in shards]
        assert all(sizes) and sum(sizes) == (30 if suite == "alpha" else 20), sizes
    assert collected(pytester, "--eval-shard", "1/1") == everything


def test_in_shard_is_a_function_of_suite_and_item_id():
    items = [Item("s", i, {}) for i in range(100)]
    for n in (1, 2, 5):
        owners = [[k for k in range(1, n + 1) if in_shard(item, k, n)] for item in items]
        assert all(len(found) == 1 for found in owners)
    assert [in_shard(item, 1, 2) for item in items] == [in_shard(Item("s", i, {"x": 1}), 1, 2) for i in range(100)]


PRICES = '[tool.modeleval.prices]\ndefault = { prompt = 1.0, completion = 2.0 }\n'
USAGE = ("requests", "cache_hits", "prompt_tokens", "completion_tokens", "new_prompt_tokens",
         "new_completion_tokens", "estimated_cost_usd")


def test_merge_shard_dbs_into_one_run(pytester, engine, capsys):
    """Three shard DBs merge into one run with every outcome and the usage summed; overlapping
    shards and shards of different models are refused with exit status 2."""
    pytester.makepyprojecttoml(PRICES)
    setup_suite(pytester, gen_suite(), sums(9))
    for k in (1, 2, 3):
        result = run(pytester, "--eval-shard", f"{k}/3", "--eval-db", f"s{k}.sqlite")
        assert result.ret == 0, result.stdout.str()
    shard_runs = [query(pytester.path / f"s{k}.sqlite", "SELECT * FROM runs")[0] for k in (1, 2, 3)]
    assert all(r["requests"] for r in shard_runs), "every shard should hold some items"
    assert run(pytester, "--eval-db", "all.sqlite").ret == 0  # unsharded, from the shards' cache
    assert len(computed_prompts(engine_calls(pytester))) == 9
    everything = answers(outcomes(pytester.path / "all.sqlite"))

    paths = [str(pytester.path / f"s{k}.sqlite") for k in (1, 2, 3)]
    merged = pytester.path / "merged.sqlite"
    assert cli.main(["merge", str(merged), *paths]) == 0
    assert "modeleval merge: run 1" in capsys.readouterr().out
    [r] = query(merged, "SELECT * FROM runs")
    assert answers(outcomes(merged)) == everything
    for column in USAGE:
        assert r[column] == pytest.approx(sum(s[column] for s in shard_runs)), column
    assert r["new_completion_tokens"] > 0 and r["estimated_cost_usd"] > 0
    assert r["model_hash"] == shard_runs[0]["model_hash"] and r["exit_status"] == 0
    assert query(merged, "SELECT suite FROM suites") == [{"suite": "gen"}]

    overlap = pytester.path / "overlap.sqlite"
    assert cli.main(["merge", str(overlap), paths[0], paths[1], str(pytester.path / "all.sqlite")]) == 2
    assert "is in both" in capsys.readouterr().out
    assert not overlap.exists()

    other = pytester.path / "other-model.sqlite"
    shutil.copy(paths[1], other)
    con = sqlite3.connect(other)
    with con:
        con.execute("UPDATE runs SET model_hash = ?", ["f" * 64])
    con.close()
    assert cli.main(["merge", str(overlap), paths[0], str(other), paths[2]]) == 2
    message = capsys.readouterr().out
    assert "differ in model_hash" in message and "other-model.sqlite" in message
    assert not overlap.exists()
