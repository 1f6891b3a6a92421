"""A Ray replica running vLLM on a machine without a GPU: vLLM's CPU backend in the actor, on the replica's
share of the cores, behind the same engine protocol (docs/scaling.md#ray-replicas)."""

from __future__ import annotations

import pytest

from evalkit import require_vllm
from pytest_modeleval.config import Settings
from pytest_modeleval.engines import ray_engine
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.modelref import resolve

pytestmark = pytest.mark.xdist_group("ray")  # the session's one local Ray (tests/conftest.py::local_ray)


def test_a_vllm_replica_runs_on_the_cpu(local_ray):
    require_vllm()
    engine = ray_engine.load(resolve("embedded"), Settings(engine="ray", replicas=1, replica_engine="vllm"))
    try:
        assert (engine.info.kind, engine.info.device) == ("vllm", "cpu")
        prompt = engine.render("What is 2+3? Answer with a number.", chat=True)
        [answer] = engine.generate([GenerateRequest(prompt, max_tokens=16)])
        assert "5" in answer
        true, wrong = engine.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris"),
                                            LoglikelihoodRequest("The capital of France is", " banana")])
        assert 0 > true.logprob > wrong.logprob
    finally:
        engine.close()
