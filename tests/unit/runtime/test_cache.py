"""The prediction cache: what its keys depend on, sampled answers per sample index, the cache
modes, resuming an interrupted run, cost accounting and `modeleval cache stats|prune`.

Key and predictor tests use a pure-Python test-double engine; the end-to-end ones run the
embedded model through pytester with a counting engine (see evalkit.py), so each can tell
exactly which requests reached the engine.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest

from cachekit import BACKENDS, cache_query, count, make_target, pytester_args
from evalkit import (CACHE_DB, FAIL_AT_ENV, MC_ROWS, MC_SUITE, RESULTS_DB, FakeEngine, answers,
                     cached_rows, computed_prompts, engine_calls, gen_suite, one_thread_engine,
                     outcomes, query, run, setup_suite, sums)
from pytest_modeleval import cli
from pytest_modeleval.runtime.cache.store import PredictionCache, request_key
from pytest_modeleval.engines.base import EngineInfo, GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.runtime.handle import CallLog, Model
from pytest_modeleval.modelref import embedded_gguf_path
from pytest_modeleval.runtime.predictor import Predictor, generate_payload

HASH_A = "a" * 64
HASH_B = "b" * 64



@pytest.fixture(params=BACKENDS)
def cache_target(request, tmp_path):
    """The cache under test: a SQLite file, or a fresh database on the session's PostgreSQL."""
    return make_target(request, tmp_path)


@pytest.fixture(params=BACKENDS)
def e2e_cache(request, pytester):
    """For pytester runs: the default SQLite file in the run's directory, or a PostgreSQL database."""
    return pytester.path / CACHE_DB if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


@pytest.fixture(scope="module")
def embedded_hash() -> str:
    return hashlib.sha256(embedded_gguf_path().read_bytes()).hexdigest()


def fingerprint(**changes) -> dict:
    info = EngineInfo(kind="hf", version="4.50.0", model_hash=HASH_A, device="cpu", dtype="float32",
                      extra={"chat_template_sha256": "c" * 64})
    template = changes.pop("chat_template", "c" * 64)
    return replace(info, **changes, extra={"chat_template_sha256": template}).fingerprint()


SAMPLED = GenerateRequest("Tell me a story about Zoë.", max_tokens=32, temperature=0.7, top_p=0.9,
                          stop=("\n\n",), seed=5)
GREEDY = replace(SAMPLED, temperature=0.0)


def gen_key(request: GenerateRequest = SAMPLED, sample: int = 0, **fingerprint_changes) -> str:
    return request_key(fingerprint(**fingerprint_changes), "generate", generate_payload(request), sample)


def predictor(engine, cache_path, mode: str = "readwrite", batch_size: int = 4) -> Predictor:
    return Predictor(lambda: engine, PredictionCache(cache_path, mode), engine.info.model_hash, batch_size)


# --- 1. what a key depends on ---------------------------------------------------------------------


KEY_SCRIPT = """
import sys
from pytest_modeleval.runtime.cache.store import request_key
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.runtime.predictor import generate_payload
fp = {"chat_template": "c" * 64, "dtype": "float32", "model": "a" * 64, "version": "4.50.0", "kind": "hf"}
r = GenerateRequest("Tell me a story about Zo\\u00eb.", max_tokens=32, temperature=0.7, top_p=0.9,
                    stop=("\\n\\n",), seed=5)
print(request_key(fp, "generate", generate_payload(r), 3))
print(request_key(fp, "loglikelihood", {"continuation": " blue", "context": "Sky:"}, 0))
"""


def test_key_is_stable_across_processes():
    """A key computed in another interpreter (other hash seed, other dict order) is the same."""
    here = [gen_key(sample=3),
            request_key(fingerprint(), "loglikelihood", {"context": "Sky:", "continuation": " blue"}, 0)]
    for hash_seed in ("1", "987"):
        done = subprocess.run([sys.executable, "-c", KEY_SCRIPT], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert done.stdout.split() == here


def test_key_ignores_dict_order():
    """Every order of the fingerprint's keys, and shuffled request dicts, give one key."""
    fp, payload = fingerprint(), generate_payload(SAMPLED)
    expected = request_key(fp, "generate", payload, 1)
    for order in itertools.permutations(fp):
        assert request_key({k: fp[k] for k in order}, "generate", payload, 1) == expected
    rng = random.Random(0)
    for _ in range(50):
        keys = list(payload)
        rng.shuffle(keys)
        assert request_key(fp, "generate", {k: payload[k] for k in keys}, 1) == expected


@pytest.mark.parametrize("change", [
    dict(model_hash=HASH_B), dict(chat_template="d" * 64), dict(chat_template=None), dict(kind="vllm"),
    dict(version="4.51.0"), dict(dtype="bfloat16"),
])
def test_key_changes_with_the_engine_fingerprint(change):
    """Model hash, chat template, engine kind and version, dtype: each makes a different key."""
    assert gen_key(**change) != gen_key()
    assert gen_key(GREEDY, **change) != gen_key(GREEDY)


@pytest.mark.parametrize("change", [
    dict(prompt="Tell me a story about Zoe."), dict(max_tokens=33), dict(temperature=0.8), dict(top_p=0.95),
    dict(stop=()), dict(stop=("\n",)), dict(seed=6),
])
def test_key_changes_with_each_sampling_parameter(change):
    """Prompt and every sampling parameter of a sampled request (its seed included) change the key."""
    assert gen_key(replace(SAMPLED, **change)) != gen_key(SAMPLED)


def test_key_changes_with_sample_index_and_request_kind():
    assert len({gen_key(sample=i) for i in range(4)}) == 4
    payload = {"context": "Sky:", "continuation": " blue"}
    assert request_key(fingerprint(), "loglikelihood", payload) != \
        request_key(fingerprint(), "loglikelihood_rolling", payload)
    assert request_key(fingerprint(), "loglikelihood", payload) != \
        request_key(fingerprint(), "loglikelihood", {**payload, "continuation": " green"})


def test_greedy_keys_ignore_seed_and_top_p_but_not_the_rest():
    """Greedy decoding does not use seed or top_p, so they must not split the cache."""
    assert gen_key(replace(GREEDY, seed=99, top_p=0.5)) == gen_key(GREEDY)
    for change in (dict(max_tokens=33), dict(stop=()), dict(prompt="other")):
        assert gen_key(replace(GREEDY, **change)) != gen_key(GREEDY)
    assert gen_key(GREEDY) != gen_key(SAMPLED)


def test_greedy_requests_differing_only_in_seed_are_computed_once(cache_target):
    """Through the predictor: one engine request, one row, and both callers get it."""
    fake = FakeEngine(HASH_A)
    p = predictor(fake, cache_target)
    first, second = p.generate([GenerateRequest("Hi", max_tokens=8, seed=1),
                                GenerateRequest("Hi", max_tokens=8, seed=2, top_p=0.3)])
    assert first.value == second.value == "aaaa:Hi:greedy"
    assert fake.received == 1
    assert cache_query(cache_target, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 1}]


def test_a_repeated_request_is_computed_and_paid_for_once(cache_target):
    """Two items asking the same thing: one engine request; the repeat is served, not counted as new tokens."""
    fake = FakeEngine(HASH_A)
    log = CallLog()
    model = Model(predictor(fake, cache_target), resolved=None, log=log)
    assert model.generate_batch(["same words here", "same words here"], max_tokens=8) == \
        ["aaaa:same words here:greedy"] * 2
    assert fake.received == 1
    assert (log.requests, log.cache_hits, log.prompt_tokens, log.new_prompt_tokens) == (2, 1, 6, 3)


def test_two_models_never_share_an_answer(cache_target):
    """Two engines whose model hashes differ, one cache file: each computes its own answers."""
    path = cache_target
    requests = [GenerateRequest("What is 2 + 2?", max_tokens=8)]
    pairs = [LoglikelihoodRequest("Sky:", " blue")]
    a, b = FakeEngine(HASH_A), FakeEngine(HASH_B)
    assert [p.value for p in predictor(a, path).generate(requests)] == ["aaaa:What is 2 + 2?:greedy"]
    assert [p.value for p in predictor(b, path).generate(requests)] == ["bbbb:What is 2 + 2?:greedy"]
    predictor(a, path).loglikelihood(pairs)
    predictor(b, path).loglikelihood(pairs)
    assert (a.received, b.received) == (2, 2)
    assert cache_query(path, "SELECT model_hash, kind, COUNT(*) AS n FROM predictions "
                       "GROUP BY model_hash, kind ORDER BY model_hash, kind") == [
        {"model_hash": HASH_A, "kind": "generate", "n": 1}, {"model_hash": HASH_A, "kind": "loglikelihood", "n": 1},
        {"model_hash": HASH_B, "kind": "generate", "n": 1}, {"model_hash": HASH_B, "kind": "loglikelihood", "n": 1}]
    # A fresh predictor for each model reads its own answer back without calling its engine.
    a2, b2 = FakeEngine(HASH_A), FakeEngine(HASH_B)
    assert predictor(a2, path).generate(requests)[0].value == "aaaa:What is 2 + 2?:greedy"
    assert predictor(b2, path).generate(requests)[0].value == "bbbb:What is 2 + 2?:greedy"
    assert (a2.received, b2.received) == (0, 0)


def test_same_model_with_another_chat_template_is_recomputed(cache_target):
    path = cache_target
    requests = [GenerateRequest("Hi", max_tokens=8)]
    predictor(FakeEngine(HASH_A, chat_template="t1"), path).generate(requests)
    other = FakeEngine(HASH_A, chat_template="t2")
    assert predictor(other, path).generate(requests)[0].cached is False
    assert other.received == 1


# --- 2. sampled answers are cached per sample index -----------------------------------------------


def test_model_sample_caches_each_sample(cache_target):
    """model.sample(n=3): three engine requests (seeds base+i), three rows; asking again costs nothing."""
    path = cache_target
    fake = FakeEngine(HASH_A)
    model = Model(predictor(fake, path), resolved=None, log=CallLog(), seed=10)
    drawn = model.sample("Once upon a time", 3, temperature=1.0, max_tokens=8)
    assert drawn == [f"aaaa:Once upon a time:seed{s}" for s in (10, 11, 12)]
    assert fake.received == 3
    assert cache_query(path, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 3}]

    again = FakeEngine(HASH_A)
    log = CallLog()
    assert Model(predictor(again, path), resolved=None, log=log, seed=10).sample(
        "Once upon a time", 3, temperature=1.0, max_tokens=8) == drawn
    assert again.received == 0 and (log.requests, log.cache_hits) == (3, 3)
    # Two more samples: the first three are reused, only samples 3 and 4 are new.
    more = FakeEngine(HASH_A)
    Model(predictor(more, path), resolved=None, log=CallLog(), seed=10).sample(
        "Once upon a time", 5, temperature=1.0, max_tokens=8)
    assert [r.seed for _, batch in more.calls for r in batch] == [13, 14]


SAMPLED_SUITE = """
@modeleval.suite("sampled", data="gen.jsonl", chat=True,
                 request=modeleval.Generate("Say a word about {a}.", max_tokens=6, samples=3, temperature=1.0))
def test_sampled(item, completion):
    assert isinstance(completion, list) and len(completion) == 3
"""


def test_declared_samples_are_cached_per_sample_index(pytester, engine):
    """Generate(samples=3, temperature=1.0): three rows per item; a rerun calls the engine 0 times."""
    setup_suite(pytester, SAMPLED_SUITE, sums(2))
    result = run(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(computed_prompts(engine_calls(pytester))) == 6
    assert cached_rows(pytester) == 6
    first = answers(outcomes(pytester.path / RESULTS_DB))

    result = run(pytester)
    assert result.ret == 0
    assert engine_calls(pytester) == []
    rows = outcomes(pytester.path / RESULTS_DB)
    assert answers(rows) == first
    assert [(r["requests"], r["cache_hits"]) for r in rows] == [(3, 3), (3, 3)]
    assert all(len(json.loads(r["response"])) == 3 for r in rows)


# --- 3. cache modes -------------------------------------------------------------------------------


def test_cache_off_writes_no_file_and_recomputes(pytester, engine):
    setup_suite(pytester, gen_suite(), sums(3))
    for _ in range(2):
        assert run(pytester, "--eval-cache", "off").ret == 0
        assert len(computed_prompts(engine_calls(pytester))) == 3
    assert not (pytester.path / CACHE_DB).exists()
    assert not list((pytester.path / ".modeleval").glob("cache.sqlite*"))


def test_cache_readwrite_then_read(pytester, engine, e2e_cache):
    """readwrite stores what it computes; read serves hits but stores nothing it computes."""
    setup_suite(pytester, gen_suite(), sums(4))
    assert run(pytester, *pytester_args(e2e_cache), "--eval-cache", "readwrite", "--eval-limit", "2").ret == 0
    assert len(computed_prompts(engine_calls(pytester))) == 2
    assert count(e2e_cache) == 2
    cached_ids = [r["test_id"] for r in outcomes(pytester.path / RESULTS_DB)]

    for _ in range(2):  # read never writes: the second read run computes the same misses again
        assert run(pytester, *pytester_args(e2e_cache), "--eval-cache", "read").ret == 0
        assert len(computed_prompts(engine_calls(pytester))) == 2
        assert count(e2e_cache) == 2
        rows = outcomes(pytester.path / RESULTS_DB)
        assert [(r["test_id"], r["cache_hits"]) for r in rows] == [
            (r["test_id"], int(r["test_id"] in cached_ids)) for r in rows]

    assert run(pytester, *pytester_args(e2e_cache)).ret == 0  # readwrite is the default: computes the 2 misses, then all hit
    assert len(computed_prompts(engine_calls(pytester))) == 2
    assert count(e2e_cache) == 4
    assert run(pytester, *pytester_args(e2e_cache)).ret == 0
    assert engine_calls(pytester) == []


def test_cache_read_without_a_cache_file_creates_none(pytester, engine):
    setup_suite(pytester, gen_suite(), sums(1))
    assert run(pytester, "--eval-cache", "read").ret == 0
    assert len(computed_prompts(engine_calls(pytester))) == 1
    assert not list((pytester.path / ".modeleval").glob("cache.sqlite*"))


# --- 4. an interrupted run resumes ----------------------------------------------------------------


def test_interrupted_run_resumes_where_it_stopped(pytester, engine, monkeypatch, e2e_cache):
    """The engine dies in its 3rd batch: every test is an error (never wrong), the 2 finished batches
    are cached, and the next run computes only the other 4 and matches an uninterrupted run."""
    setup_suite(pytester, gen_suite(), sums(8))
    args = ("--eval-batch-size", "2", *pytester_args(e2e_cache))
    assert run(pytester, *args, "--eval-cache", "off", "--eval-db", "reference.sqlite").ret == 0
    reference = outcomes(pytester.path / "reference.sqlite")
    all_prompts = computed_prompts(engine_calls(pytester))
    assert len(set(all_prompts)) == 8
    assert {r["outcome"] for r in reference} <= {"correct", "wrong"}

    monkeypatch.setenv(FAIL_AT_ENV, "3")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes() == {"errors": 8}
    rows = outcomes(pytester.path / RESULTS_DB)
    assert [r["outcome"] for r in rows] == ["error"] * 8
    assert all("simulated engine crash" in r["message"] for r in rows)
    calls = engine_calls(pytester)
    assert [(len(c["prompts"]), c["failed"]) for c in calls] == [(2, False), (2, False), (2, True)]
    done_before = computed_prompts(calls)
    assert count(e2e_cache) == 4

    monkeypatch.delenv(FAIL_AT_ENV)
    result = run(pytester, *args)
    assert result.ret == 0, result.stdout.str()
    resumed = computed_prompts(engine_calls(pytester))
    assert len(resumed) == 4 and not set(resumed) & set(done_before)
    assert set(resumed) | set(done_before) == set(all_prompts)
    assert count(e2e_cache) == 8
    rows = outcomes(pytester.path / RESULTS_DB)
    assert answers(rows) == answers(reference)
    assert sorted(r["cache_hits"] for r in rows) == [0] * 4 + [1] * 4


# --- 9. cost accounting ---------------------------------------------------------------------------

PRICES = '[tool.modeleval.prices]\ndefault = { prompt = 1.0, completion = 2.0 }\n'


def test_cost_counts_only_tokens_computed_in_the_run(pytester, engine):
    pytester.makepyprojecttoml(PRICES)
    setup_suite(pytester, gen_suite() + MC_SUITE, sums(3))
    (pytester.path / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in MC_ROWS[:2]))
    db = pytester.path / RESULTS_DB

    cold = run(pytester)
    assert cold.ret == 0, cold.stdout.str()
    [r] = query(db, "SELECT * FROM runs")
    rows = outcomes(db)
    assert r["new_prompt_tokens"] > 0 and r["new_completion_tokens"] > 0
    assert r["estimated_cost_usd"] > 0
    assert r["estimated_cost_usd"] == pytest.approx((r["new_prompt_tokens"] * 1.0
                                                     + r["new_completion_tokens"] * 2.0) / 1e6)
    for column in ("requests", "prompt_tokens", "completion_tokens", "new_prompt_tokens", "new_completion_tokens",
                   "cache_hits"):
        assert r[column] == sum(row[column] for row in rows), column
    assert r["cache_hits"] == 0 and r["requests"] == 3 + 2 * 3
    for row in rows:
        assert row["prompt_tokens"] > 0 and row["new_prompt_tokens"] == row["prompt_tokens"]
        assert row["new_completion_tokens"] == row["completion_tokens"]
        if row["suite"] == "gen":  # the engine's own token counts of what it saw and said
            assert row["prompt_tokens"] == engine.count_tokens(row["prompt"])
            assert row["completion_tokens"] == engine.count_tokens(row["response"]) > 0
        else:
            assert row["completion_tokens"] == 0
            assert row["prompt_tokens"] == sum(engine.count_tokens(p) for p in json.loads(row["prompt"]))
    assert "0.0% from cache" in cold.stdout.str()

    warm = run(pytester)
    assert warm.ret == 0
    [_, r2] = query(db, "SELECT * FROM runs ORDER BY id")
    assert r2["estimated_cost_usd"] == 0
    assert (r2["requests"], r2["cache_hits"]) == (9, 9)
    assert (r2["new_prompt_tokens"], r2["new_completion_tokens"]) == (0, 0)
    assert (r2["prompt_tokens"], r2["completion_tokens"]) == (r["prompt_tokens"], r["completion_tokens"])
    warm.stdout.fnmatch_lines(["9 requests, 100.0% from cache; tokens computed 0 in / 0 out; "
                               "estimated cost $0.0000"])
    assert all(row["new_prompt_tokens"] == 0 and row["prompt_tokens"] > 0 for row in outcomes(db))


def test_without_prices_there_is_no_cost(pytester, engine):
    setup_suite(pytester, gen_suite(), sums(1))
    result = run(pytester)
    assert result.ret == 0
    assert query(pytester.path / RESULTS_DB, "SELECT estimated_cost_usd FROM runs") == [{"estimated_cost_usd": None}]
    assert "estimated cost" not in result.stdout.str()


@pytest.mark.parametrize(("key", "value"), [
    ("default", '{ prompt = "cheap", completion = 1 }'),
    ("default", "3"),
    ("embedded", "{ prompt = 1.0, output = 2.0 }"),
    ("sha256:{prefix}", '{ prompt = 1.0, completion = "x" }'),
])
def test_malformed_price_is_a_usage_error_naming_the_key(pytester, embedded_hash, key, value):
    key = key.format(prefix=embedded_hash[:8])
    pytester.makepyprojecttoml(f'[tool.modeleval.prices]\n"{key}" = {value}\n')
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"[tool.modeleval.prices] {key!r}" in result.stderr.str(), result.stderr.str()


# --- 10. modeleval cache stats | prune ------------------------------------------------------------


def fill_cache(path) -> None:
    """Two models' answers: 3 generations and 2 loglikelihoods of A, 1 generation of B."""
    for model_hash, prompts in ((HASH_A, ["one", "two", "three"]), (HASH_B, ["one"])):
        fake = FakeEngine(model_hash)
        p = predictor(fake, path)
        p.generate([GenerateRequest(text, max_tokens=4) for text in prompts])
        if model_hash == HASH_A:
            p.loglikelihood([LoglikelihoodRequest("Sky:", " blue"), LoglikelihoodRequest("Sky:", " red")])
        p.cache.close()


def stats_rows(out: str) -> dict[tuple[str, str], int]:
    return {(cells[0], cells[1]): int(cells[2]) for cells in (line.split() for line in out.splitlines())
            if cells and cells[0].startswith("sha256:")}


def test_cache_stats_lists_models_and_counts(cache_target, capsys):
    path = cache_target
    fill_cache(path)
    assert cli.main(["cache", "stats", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 predictions" in out
    assert stats_rows(out) == {("sha256:" + HASH_A[:12], "generate"): 3,
                               ("sha256:" + HASH_A[:12], "loglikelihood"): 2,
                               ("sha256:" + HASH_B[:12], "generate"): 1}


def test_cache_prune_by_model_prefix_deletes_only_that_model(cache_target, capsys):
    path = cache_target
    fill_cache(path)
    assert cli.main(["cache", "prune", "--db", str(path), "--model", "sha256:" + HASH_A[:8]]) == 0
    assert "deleted 5 predictions" in capsys.readouterr().out
    assert cache_query(path, "SELECT model_hash, COUNT(*) AS n FROM predictions GROUP BY model_hash "
                       "ORDER BY model_hash") == [
        {"model_hash": HASH_B, "n": 1}]
    # B's answer is still served from the cache.
    fake = FakeEngine(HASH_B)
    assert predictor(fake, path).generate([GenerateRequest("one", max_tokens=4)])[0].cached
    assert fake.received == 0


def test_cache_prune_without_a_filter_refuses(cache_target, capsys):
    path = cache_target
    fill_cache(path)
    assert cli.main(["cache", "prune", "--db", str(path)]) == 2
    assert "--model" in capsys.readouterr().out
    assert cache_query(path, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 6}]
    assert cli.main(["cache", "prune", "--db", str(path), "--all"]) == 0
    assert cache_query(path, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 0}]


def test_cache_cli_on_a_missing_file(tmp_path, capsys):
    assert cli.main(["cache", "stats", "--db", str(tmp_path / "none.sqlite")]) == 1
    assert "does not exist" in capsys.readouterr().out
    assert not (tmp_path / "none.sqlite").exists()


def test_claims_of_a_killed_process_are_taken_over_at_once(tmp_path):
    """A run killed mid-plan leaves claims behind; the next run must not wait for them to go stale."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    cache = PredictionCache(tmp_path / "cache.sqlite")
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    with con:
        con.execute("INSERT INTO prediction_claims VALUES (?, ?, ?, ?)", ("k1", f"{os.uname().nodename}:{dead}", 1e12, 1e12))
        con.execute("INSERT INTO prediction_claims VALUES (?, ?, ?, ?)", ("k2", f"{os.uname().nodename}:1", 1e12, 1e12))
    con.close()
    assert cache.claim(["k1", "k2"]) == ["k1"]  # pid 1 is alive: its claim stands
    cache.close()
