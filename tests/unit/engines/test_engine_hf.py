"""The transformers engine on the embedded model: real text, lm-eval loglikelihood, batching."""

from __future__ import annotations

import pytest

from evalkit import one_thread_engine
from pytest_modeleval.engines import hf
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.engines.gguf import converted_dir, ensure_converted
from pytest_modeleval.modelref import resolve

EASY = [  # (context, true continuation, corrupted continuation)
    ("The capital of France is", " Paris", " banana"),
    ("1, 2, 3, 4,", " 5", " 9"),
    ("Monday, Tuesday,", " Wednesday", " Purple"),
    ("The sun rises in the", " east", " fridge"),
    ("Water is made of hydrogen and", " oxygen", " cardboard"),
    ("A, B, C, D,", " E", " 7"),
    ("The cat sat on the", " mat", " philosophy"),
    ("Twinkle, twinkle, little", " star", " spoon"),
]


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


def test_generates_real_text_with_the_chat_template(engine):
    prompt = engine.render("What is 2+3? Answer with a number.", chat=True)
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    [answer] = engine.generate([GenerateRequest(prompt, max_tokens=16)])
    assert "5" in answer


def test_render_without_chat_is_the_text_itself(engine):
    assert engine.render("plain text", chat=False) == "plain text"


def test_stop_strings_cut_the_completion(engine):
    [answer] = engine.generate([GenerateRequest("Count: 1, 2, 3,", max_tokens=20, stop=(",",))])
    assert "," not in answer and answer.strip() == "4"


def test_loglikelihood_prefers_the_true_continuation(engine):
    requests = [LoglikelihoodRequest(c, t) for c, t, _ in EASY] + [LoglikelihoodRequest(c, f) for c, _, f in EASY]
    scores = engine.loglikelihood(requests)
    true, corrupted = scores[:len(EASY)], scores[len(EASY):]
    for (context, t, f), good, bad in zip(EASY, true, corrupted):
        assert good.logprob > bad.logprob, f"{context!r}: {t!r} {good.logprob:.2f} <= {f!r} {bad.logprob:.2f}"
        assert good.logprob < 0
    assert not any(score.is_greedy for score in corrupted)
    assert sum(score.is_greedy for score in true) >= len(EASY) // 2


def test_trailing_context_space_moves_to_the_continuation(engine):
    """lm-eval's split: 'is ' + 'Paris' is scored exactly as 'is' + ' Paris'."""
    a, b = engine.loglikelihood([LoglikelihoodRequest("The capital of France is ", "Paris"),
                                 LoglikelihoodRequest("The capital of France is", " Paris")])
    assert a == b


def test_empty_context_is_scored_after_the_bos_token(engine):
    [score] = engine.loglikelihood([LoglikelihoodRequest("", "Hello")])
    assert score.logprob < 0


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


def test_sampling_is_reproducible_per_seed(engine):
    prompt = engine.render("Write a word.", chat=True)
    a, b, c = engine.generate([GenerateRequest(prompt, max_tokens=12, temperature=1.0, seed=s) for s in (1, 1, 2)])
    assert a == b
    assert a != c


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
