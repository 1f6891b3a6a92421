"""The transformers engine on the embedded model: what only it does (batching, GGUF conversion, its info).
The protocol every engine speaks is tested on transformers and vLLM alike in test_engine_protocol.py."""

from __future__ import annotations

import pytest

from evalkit import EASY, one_thread_engine
from pytest_modeleval.engines import hf
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.engines.gguf import converted_dir, ensure_converted
from pytest_modeleval.modelref import resolve



@pytest.fixture(scope="module")
def engine():
    """The embedded engine on one torch thread: these are many short calls (see evalkit.one_thread_engine)."""
    threads = one_thread_engine()
    engine = next(threads)
    try:
        yield engine
    finally:
        engine.batch_size = 16
        threads.close()  # restores torch's thread count


def test_batch_size_does_not_change_greedy_outcomes(engine):
    prompts = [engine.render(q, chat=True) for q in
               ("Name a colour.", "What is 10 minus 3?", "Say hello.", "What is the capital of Italy?")]
    requests = [GenerateRequest(p, max_tokens=12) for p in prompts]
    scores_in = [LoglikelihoodRequest(c, t) for c, t, _ in EASY]
    engine.batch_size = 1
    single, single_scores = engine.generate(requests), engine.loglikelihood(scores_in)
    engine.batch_size = 16
    batched, batched_scores = engine.generate(requests), engine.loglikelihood(scores_in)
    assert single == batched
    for one, many in zip(single_scores, batched_scores):
        assert one.is_greedy == many.is_greedy
        assert one.logprob == pytest.approx(many.logprob, abs=1e-3)


def test_sampled_answers_do_not_depend_on_their_batch(engine):
    """Sampled requests are batched, each drawing from its own seeded generator: alone or among
    others, the same seed gives the same text; nucleus sampling (top_p) too."""
    prompt = engine.render("Name a fruit.", chat=True)
    other = engine.render("Count to three.", chat=True)
    requests = [GenerateRequest(prompt, max_tokens=10, temperature=0.9, top_p=p, seed=s)
                for p in (1.0, 0.8) for s in (3, 4)]
    neighbours = [GenerateRequest(other, max_tokens=10, temperature=0.9, top_p=p, seed=9) for p in (1.0, 0.8)]
    engine.batch_size = 1
    alone = engine.generate(requests)
    engine.batch_size = 16
    together = engine.generate(neighbours + requests)[len(neighbours):]
    assert alone == together
    assert len(set(alone)) > 1


def test_embedded_weights_are_converted_once(engine, monkeypatch):
    resolved = resolve("embedded")
    assert (converted_dir(resolved.sha256) / ".complete").exists()

    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr("pytest_modeleval.engines.gguf._convert", fail)
    assert ensure_converted(resolved.path, resolved.sha256) == converted_dir(resolved.sha256)


def test_engine_info_identifies_model_and_library(engine):
    assert engine.info.kind == "hf"
    assert engine.info.model_hash == resolve("embedded").sha256
    assert engine.info.dtype == "float32" and engine.info.device == "cpu"
    assert len(engine.info.extra["chat_template_sha256"]) == 64


def test_an_unloadable_checkpoint_is_an_engine_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    resolved = type("R", (), {"ref": "broken", "path": tmp_path, "sha256": "0" * 64})()
    with pytest.raises(EngineError, match="sha256:000000000000"):
        hf.load(resolved)
