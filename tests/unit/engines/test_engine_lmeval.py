"""The lm-eval adapter on lm-eval's own HF model (HFLM) over the embedded model's converted
checkpoint: its numbers must be the transformers engine's."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval", reason="lm-eval is not installed: pip install 'pytest-modeleval[lmeval]'")

from pytest_modeleval.config import Settings  # noqa: E402
from pytest_modeleval.engines import hf, lmeval  # noqa: E402
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest  # noqa: E402
from pytest_modeleval.engines.gguf import ensure_converted  # noqa: E402
from pytest_modeleval.modelref import content_hash, resolve  # noqa: E402
from pytest_modeleval.plugin.session import EvalSession  # noqa: E402

from test_engine_hf import EASY  # noqa: E402


@pytest.fixture(scope="module")
def converted():
    embedded = resolve("embedded")
    return ensure_converted(embedded.path, embedded.sha256)


@pytest.fixture(scope="module")
def ref(converted):
    return resolve(f"lmeval:hf#pretrained={converted},dtype=float32")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Many short calls on two engines: one torch thread, which does not spin when other processes
    share the cores (see evalkit.one_thread_engine); restored after the module."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(ref):
    return lmeval.load(ref, Settings(batch_size=16), device="cpu")


@pytest.fixture(scope="module")
def reference():
    return hf.load(resolve("embedded"), batch_size=16, device="cpu")


def test_loglikelihoods_are_the_transformers_engines(engine, reference):
    requests = [LoglikelihoodRequest(c, t) for c, t, _ in EASY] + [LoglikelihoodRequest(c, f) for c, _, f in EASY]
    requests.append(LoglikelihoodRequest("The capital of France is ", "Paris"))  # trailing space moves
    theirs, ours = engine.loglikelihood(requests), reference.loglikelihood(requests)
    for request, a, b in zip(requests, theirs, ours):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4), request
        assert a.is_greedy == b.is_greedy, request


def test_greedy_generation_is_the_transformers_engines(engine, reference):
    requests = [GenerateRequest(reference.render("What is 2+3? Answer with a number.", chat=True), max_tokens=16),
                GenerateRequest("Count: 1, 2, 3,", max_tokens=20, stop=(",",))]
    assert engine.generate(requests) == reference.generate(requests)


def test_rolling_loglikelihood_and_token_counts_are_the_transformers_engines(engine, reference):
    texts = ["The quick brown fox jumps over the lazy dog.", "Hello"]
    for a, b in zip(engine.loglikelihood_rolling(texts), reference.loglikelihood_rolling(texts)):
        assert a == pytest.approx(b, abs=1e-4)
    assert [engine.count_tokens(t) for t in texts] == [reference.count_tokens(t) for t in texts]


def test_chat_prompts_use_the_models_template(engine, reference):
    assert engine.render("Name a colour.", chat=True) == reference.render("Name a colour.", chat=True)
    assert engine.render("plain", chat=False) == "plain"


def test_engine_info_names_lm_eval_and_the_weights(engine, ref, converted):
    assert engine.info.kind == "lmeval" and engine.info.version.endswith("/hf")
    assert engine.info.model_hash == ref.sha256 == content_hash(converted)
    assert engine.info.dtype == "float32" and engine.info.device == "cpu"
    assert engine.info.extra["model_args"] == f"pretrained={converted},dtype=float32"


def test_the_session_builds_the_adapter_for_lmeval_references(engine, ref):
    built = EvalSession.pytest_modeleval_make_engine(None, ref, Settings(batch_size=16))
    assert built.info.kind == "lmeval" and built.info.model_hash == ref.sha256


def test_an_unknown_lm_eval_model_is_an_engine_error():
    with pytest.raises(EngineError, match="lm-eval has no model 'no-such-model'"):
        lmeval.load(resolve("lmeval:no-such-model#x=1"), Settings(), device="cpu")
