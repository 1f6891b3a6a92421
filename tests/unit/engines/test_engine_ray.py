"""The Ray engine (--eval-engine ray) on one local Ray per test session, with CPU replicas of the
embedded model: the same outcomes and cache keys as the in-process engine, and the faults (a replica
killed mid-run, one that always fails, one that hangs, none left).

Economical on purpose: one Ray start, two real replicas shared by the tests (each loads the model
once), replicas that fail or hang are cheap actors without a model, generations of a few tokens.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings

import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.xdist_group("ray")  # one worker starts the local Ray (tests/conftest.py::local_ray)

from evalkit import (MC_ROWS, MC_SUITE, answers, embedded_engine, gen_suite, one_thread_engine, outcomes,  # noqa: E402
                     query, run, setup_suite, sums)

from pytest_modeleval.runtime.cache.store import PredictionCache  # noqa: E402
from pytest_modeleval.config import Settings  # noqa: E402
from pytest_modeleval.engines import ray_cluster, ray_engine, ray_replica  # noqa: E402
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest  # noqa: E402
from pytest_modeleval.engines.ray_dispatch import ReplicaWarning  # noqa: E402
from pytest_modeleval.modelref import resolve  # noqa: E402
from pytest_modeleval.runtime.predictor import Predictor  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fake engines below travel by value


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


@pytest.fixture(scope="module")
def replicas(local_ray):
    """Two real replicas of the embedded model (one CPU each), batches of 2."""
    ray_engine_ = ray_engine.load(resolve("embedded"), Settings(engine="ray", replicas=2, batch_size=2))
    yield ray_engine_
    ray_engine_.close()


@pytest.fixture(scope="module")
def reference(engine):
    """The in-process engine's answers to gen_requests(), computed once."""
    return engine.generate(gen_requests(8))


class FakeEngine:
    """A replica's engine that never computes: it raises, or hangs (the unit under test is the dispatcher)."""

    def __init__(self, info, hang: float = 0.0):
        self.info = info
        self.hang = hang

    def generate(self, requests):
        if self.hang:
            time.sleep(self.hang)
        raise EngineError("simulated replica fault")


def _fake(info, hang: float = 0.0):
    return FakeEngine(info, hang)


def fake_replica(cluster, info, hang: float = 0.0):
    """A replica actor without a model, taking no CPU from the real ones."""
    import functools

    return ray_replica.start(cluster.ray, functools.partial(_fake, info, hang), cpus=0)


def mixed(replicas, actors, **options) -> ray_engine.RayEngine:
    """An engine over some of the shared real replicas and some fakes."""
    return ray_engine.RayEngine(replicas.cluster, actors, resolve("embedded"), "hf", batch_size=2, **options)


PROMPTS = [f"Count from {i} to {i + 3}:" for i in range(8)]


def gen_requests(n: int = 8) -> list[GenerateRequest]:
    return [GenerateRequest(prompt, max_tokens=6) for prompt in PROMPTS[:n]]


def predictor(engine, tmp_path, name: str, batch_size: int = 2) -> Predictor:
    cache = PredictionCache(tmp_path / f"{name}.sqlite")
    return Predictor(lambda: engine, cache, engine.info.model_hash, batch_size)


def cache_keys(tmp_path, name: str) -> list[str]:
    return sorted(row["key"] for row in query(tmp_path / f"{name}.sqlite", "SELECT key FROM predictions"))


def test_two_replicas_give_the_in_process_outcomes_and_cache_keys(replicas, engine, tmp_path):
    assert replicas.info.fingerprint() == engine.info.fingerprint()
    assert replicas.describe() == "engine ray: 2 replicas (hf) on local Ray, 2 CPUs"
    assert replicas.render("What is 2 + 2?", True) == engine.render("What is 2 + 2?", True)
    choices = [LoglikelihoodRequest("The sky is", c) for c in (" blue", " green", " red")]
    on_ray, here = predictor(replicas, tmp_path, "ray"), predictor(engine, tmp_path, "here")
    ray_texts = [p.value for p in on_ray.generate(gen_requests(6))]
    assert ray_texts == [p.value for p in here.generate(gen_requests(6))]
    assert [p.value for p in on_ray.loglikelihood(choices)] == [p.value for p in here.loglikelihood(choices)]
    assert {e[1] for e in replicas.dispatcher.events if e[0] == "returned"} == {1, 2}  # both replicas worked
    assert cache_keys(tmp_path, "ray") == cache_keys(tmp_path, "here")
    # an in-process rerun on the Ray run's cache computes nothing
    rerun = Predictor(lambda: engine, on_ray.cache, engine.info.model_hash, 2)
    assert [p.value for p in rerun.generate(gen_requests(6))] == ray_texts and rerun.usage.engine_calls == 0


def test_a_replica_that_always_fails_is_dropped_and_the_others_compute_everything(replicas, reference, tmp_path):
    failing = fake_replica(replicas.cluster, replicas.info)
    spread = mixed(replicas, [replicas.actors[0], failing])
    with pytest.warns(ReplicaWarning, match="engine replica 2 dropped after 3 failures in a row"):
        texts = [p.value for p in predictor(spread, tmp_path, "ray").generate(gen_requests(8))]
    assert texts == reference
    assert [e[1] for e in spread.dispatcher.events if e[0] == "failed"] == [2, 2, 2]
    assert len(spread.dispatcher.live) == 1


def test_a_stuck_replica_is_killed_after_the_timeout_and_its_batches_resent(replicas, reference, tmp_path):
    # the timeout leaves the real replica room on a busy machine: a batch of 2 short answers takes a second or two
    stuck = fake_replica(replicas.cluster, replicas.info, hang=300)
    spread = mixed(replicas, [replicas.actors[0], stuck], timeout=15, max_failures=1)
    start = time.monotonic()
    with pytest.warns(ReplicaWarning, match="engine replica 2 took more than 15 s on one batch and was killed"):
        texts = [p.value for p in predictor(spread, tmp_path, "ray").generate(gen_requests(4))]
    assert time.monotonic() - start < 120
    assert texts == reference[:4]
    lost = [e[2] for e in spread.dispatcher.events if e[0] == "lost"]
    assert lost and all(("returned", 1, batch) in spread.dispatcher.events for batch in lost)


def test_with_no_replica_left_the_requests_are_errors_naming_the_cluster(replicas, tmp_path):
    spread = mixed(replicas, [fake_replica(replicas.cluster, replicas.info)])
    on_ray = predictor(spread, tmp_path, "ray")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplicaWarning)
        with pytest.raises(EngineError, match="local Ray: replica 1 of 1: EngineError: simulated replica fault"):
            on_ray.generate(gen_requests(8))
        with pytest.raises(EngineError, match="local Ray: no engine replica left"):
            on_ray.generate(gen_requests(2))
    assert spread.dispatcher.live == []
    assert cache_keys(tmp_path, "ray") == []  # nothing wrong was written


def test_work_that_cannot_be_placed_on_a_local_ray_is_an_error_not_a_wait(replicas):
    with pytest.raises(EngineError, match="local Ray, 2 CPUs: sandbox tasks need 1 CPUs and 0 are free"):
        replicas.cluster.check_room(1, "sandbox tasks", "lower --eval-replicas", wait=0.5)


def test_a_replica_killed_mid_run_loses_only_its_in_flight_batches(replicas, reference, tmp_path):
    victim = replicas.actors[1]
    pid = ray.get(victim.pid.remote())
    inner = replicas.dispatcher.map

    def kill_after_first(method, batches):
        for n, result in enumerate(inner(method, batches)):
            if n == 0:
                os.kill(pid, signal.SIGKILL)
            yield result

    replicas.dispatcher.map = kill_after_first
    on_ray = predictor(replicas, tmp_path, "ray", batch_size=1)
    replicas.dispatcher.events.clear()
    try:
        with pytest.warns(ReplicaWarning, match="engine replica 2 died"):
            texts = [p.value for p in on_ray.generate(gen_requests(8))]
    finally:
        replicas.dispatcher.map = inner
    assert texts == reference  # nothing lost
    events = replicas.dispatcher.events
    returned = [batch for what, _, batch in events if what == "returned"]
    assert sorted(returned) == list(range(8))  # nothing that came back was computed again
    assert [e for e in events if e[0] == "lost"]
    assert on_ray.usage.engine_calls == 8 and len(cache_keys(tmp_path, "ray")) == 8


def test_pytest_eval_engine_ray_runs_a_suite_with_the_in_process_outcomes(pytester, replicas, local_ray):
    """End to end, once: the plugin's own Ray engine, two replicas, the same outcomes as in-process."""
    replicas.close()  # the two CPUs of the session's Ray go to the run's own replicas
    embedded_engine()
    setup_suite(pytester, gen_suite(max_tokens=6) + MC_SUITE, sums(4), counting=False)
    (pytester.path / "mc.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in MC_ROWS))
    db = pytester.path / ".modeleval/results.sqlite"
    on_ray = run(pytester, "--eval-engine=ray", "--eval-replicas=2", "--eval-batch-size=2")
    assert on_ray.ret == 0, on_ray.stdout.str()
    on_ray.stdout.fnmatch_lines(["modeleval: engine ray: 2 replicas (hf) on local Ray, * CPUs*",
                                 "modeleval: engine ray: 2 replicas (hf) on local Ray, 2 CPUs"])
    ray_answers = answers(outcomes(db))
    here = run(pytester, "--eval-batch-size=2", "--eval-cache-db=fresh.sqlite")
    assert here.ret == 0
    assert len(ray_answers) == 8 and answers(outcomes(db)) == ray_answers
    rows = query(db, "SELECT engine, engine_device FROM runs ORDER BY id")
    assert rows[0] == {"engine": "hf", "engine_device": "cpu x 2 replicas on local Ray"}
    assert query(pytester.path / "fresh.sqlite", "SELECT COUNT(*) AS n FROM predictions")[0]["n"] == \
        query(pytester.path / ".modeleval/cache.sqlite", "SELECT COUNT(*) AS n FROM predictions")[0]["n"]


def test_a_run_without_ray_options_never_imports_ray():
    import subprocess

    code = ("import sys, pytest_modeleval.plugin, pytest_modeleval.plugin.session, pytest_modeleval.runtime.predictor, "
            "pytest_modeleval.engines.factory, pytest_modeleval.sandbox.fixture, pytest_modeleval.suites.humaneval; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_without_ray_installed_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(EngineError, match=r"pip install 'pytest-modeleval\[ray\]'"):
        ray_cluster.import_ray()
