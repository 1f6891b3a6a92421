"""Membership scores (issue 31): Min-K% and Min-K%++ through the engine and the prediction cache, against a hand
computation from the embedded model's own logits; the percentile; engines that cannot give token scores."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from evalkit import one_thread_engine
from pytest_modeleval.engines.base import EngineError, EngineInfo, TokenScores
from pytest_modeleval.engines.vllm import prompt_token_scores
from pytest_modeleval.perturb import membership
from pytest_modeleval.runtime.cache.store import PredictionCache
from pytest_modeleval.runtime.predictor import Predictor

TEXT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."


@pytest.fixture(scope="module")
def engine():
    threads = one_thread_engine()
    yield next(threads)
    threads.close()


def hand_scores(engine, text: str, k: float) -> tuple[float, float]:
    """Min-K% and Min-K%++ written out from the model's logits, in float64, without the engine's scoring code."""
    torch = engine.torch
    ids = engine.tokenizer(text, add_special_tokens=False).input_ids
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    logp = torch.log_softmax(logits, dim=-1)
    chosen = [logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
    p = logp.exp()
    mu = (p * logp).sum(-1)
    sigma = ((p * (logp - mu[:, None]) ** 2).sum(-1)).sqrt()
    standardised = [(c - m) / s for c, m, s in zip(chosen, mu.tolist(), sigma.tolist())]
    count = max(1, int(len(chosen) * k))
    return sum(sorted(chosen)[:count]) / count, sum(sorted(standardised)[:count]) / count


class Counting:
    """The engine, counting its token-score calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def token_scores(self, texts):
        self.calls += 1
        return self.inner.token_scores(texts)


def test_min_k_and_min_k_pp_match_a_hand_computation_and_are_cached(engine, tmp_path):
    counting = Counting(engine)
    cache = PredictionCache(tmp_path / "cache.sqlite")
    predictor = Predictor(lambda: counting, cache, engine.info.model_hash, batch_size=4)
    first = predictor.token_scores([TEXT, "Short text here."])
    assert counting.calls == 1 and not first[0].cached
    for k in (0.1, 0.2, 0.5, 1.0):
        expected_min_k, expected_pp = hand_scores(engine, TEXT, k)
        got = membership.scores(first[0].value, k)
        assert got["min_k"] == pytest.approx(expected_min_k, abs=1e-4)
        assert got["min_k_pp"] == pytest.approx(expected_pp, abs=1e-3)
    again = Predictor(lambda: counting, cache, engine.info.model_hash, batch_size=4).token_scores([TEXT])
    assert counting.calls == 1 and again[0].cached  # read back from the cache, nothing computed
    for part in range(3):  # logprobs, means and stds survive the cache's JSON
        assert again[0].value[part] == pytest.approx(first[0].value[part])
    assert _kinds(cache) == ["token_scores", "token_scores"]
    cache.close()


def _kinds(cache) -> list[str]:
    import sqlite3

    with sqlite3.connect(cache.path) as db:
        return [kind for (kind,) in db.execute("SELECT kind FROM predictions")]


def test_the_pure_scores_by_hand():
    assert membership.min_k([-1.0, -5.0, -3.0, -0.5, -2.0], 0.4) == -4.0  # int(5 * 0.4) = 2 lowest
    assert membership.min_k([-1.0], 0.2) == -1.0  # at least one token
    assert membership.min_k_plus_plus([-1.0, -3.0], [-2.0, -2.0], [1.0, 2.0], 0.5) == -0.5
    assert membership.min_k_plus_plus([-1.0], None, None) is None
    assert membership.percentile(3.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.5 / 4)
    assert membership.percentile(3.0, []) is None
    with pytest.raises(ValueError, match="at least two tokens"):
        membership.min_k([])


def test_vllm_prompt_logprobs_give_min_k_only():
    entry = lambda token, lp: {token: SimpleNamespace(logprob=lp), 99: SimpleNamespace(logprob=-0.1)}  # noqa: E731
    scores = prompt_token_scores([None, entry(5, -2.0), entry(6, -0.5)], [4, 5, 6])
    assert scores == TokenScores((-2.0, -0.5))
    assert membership.scores(scores, 1.0) == {"min_k": -1.25, "min_k_pp": None}
    assert math.isclose(membership.min_k(scores.logprobs, 0.5), -2.0)


def test_an_engine_without_token_scores_is_refused_by_name(tmp_path):
    engine = SimpleNamespace(info=EngineInfo("lmeval", "0.4", "f" * 64))
    predictor = Predictor(lambda: engine, PredictionCache(tmp_path / "c.sqlite"), "f" * 64, batch_size=4)
    with pytest.raises(EngineError, match="engine 'lmeval' cannot give per-token logprobs"):
        predictor.token_scores(["some text"])
