"""The engine protocol on the engines that run a checkpoint themselves, transformers and vLLM, with the very
same tests: chat templates, stop strings, lm-eval loglikelihood and its rolling form, seeds, long prompts
cut from the left. One vLLM load serves the module (and the other vLLM tests: xdist_group "vllm")."""

from __future__ import annotations

import pytest

from evalkit import EASY, embedded_vllm, one_thread_engine
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest


@pytest.fixture(scope="module")
def transformers_engine():
    threads = one_thread_engine()
    try:
        yield next(threads)
    finally:
        threads.close()


@pytest.fixture(params=["hf", pytest.param("vllm", marks=pytest.mark.xdist_group("vllm"))])
def engine(request):
    if request.param == "hf":
        return request.getfixturevalue("transformers_engine")
    return embedded_vllm()


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


def test_a_score_does_not_depend_on_the_requests_before_it(engine):
    """vLLM's prefix cache would otherwise serve a shared context from an earlier request (vLLM issue 42019)."""
    context, true, _ = EASY[0]
    [alone] = engine.loglikelihood([LoglikelihoodRequest(context, true)])
    after = engine.loglikelihood([LoglikelihoodRequest(context, " Lyon"), LoglikelihoodRequest(context, true)])[1]
    assert after.logprob == pytest.approx(alone.logprob, abs=1e-4) and after.is_greedy == alone.is_greedy


def test_trailing_context_space_moves_to_the_continuation(engine):
    """lm-eval's split: 'is ' + 'Paris' is scored exactly as 'is' + ' Paris'."""
    a, b = engine.loglikelihood([LoglikelihoodRequest("The capital of France is ", "Paris"),
                                 LoglikelihoodRequest("The capital of France is", " Paris")])
    assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_empty_context_is_scored_after_the_bos_token(engine):
    [score] = engine.loglikelihood([LoglikelihoodRequest("", "Hello")])
    assert score.logprob < 0


def test_rolling_loglikelihood_is_the_whole_text_after_bos(engine):
    text = "The cat sat on the mat."
    [rolling] = engine.loglikelihood_rolling([text])
    [whole] = engine.loglikelihood([LoglikelihoodRequest("", text)])
    assert rolling == pytest.approx(whole.logprob, abs=1e-4) and rolling < 0


def test_sampling_is_reproducible_per_seed(engine):
    prompt = engine.render("Write a word.", chat=True)
    a, b, c = engine.generate([GenerateRequest(prompt, max_tokens=12, temperature=1.0, seed=s) for s in (1, 1, 2)])
    assert a == b
    assert a != c


def test_many_seeded_samples_in_one_call(engine, request):
    """vLLM's CPU worker died on seeded sampled requests whose prompts it prefilled in chunks (a large call)."""
    # 160 requests make vLLM prefill in chunks (the bug). Transformers has no such path: 16 (one full batch) still
    # checks that each answer of one call is its seed's, in about 7 s instead of about 67 s for 160 (one process).
    n = 160 if request.node.callspec.params["engine"] == "vllm" else 16
    requests = [GenerateRequest(engine.render(f"Write a word about the number {i}. " * 8, chat=True), max_tokens=4,
                                temperature=0.8, seed=i) for i in range(n)]
    answers = engine.generate(requests)
    assert len(answers) == n and engine.generate(requests[:3]) == answers[:3], "each answer its seed's"


def test_a_prompt_longer_than_the_window_keeps_its_end(engine, monkeypatch):
    """The prompt is cut from the left so that the answer still fits the window: its last words survive.
    (A 64-token window here: the same code path as the model's own, at a fraction of the cost.)"""
    monkeypatch.setattr(engine, "max_length", 64)
    prompt = "Numbers follow. " * 80 + "Count: 1, 2, 3,"
    assert engine.count_tokens(prompt) > 3 * engine.max_length
    [answer] = engine.generate([GenerateRequest(prompt, max_tokens=4, stop=(",",))])
    assert answer.strip() == "4"
