"""The `model` fixture: what a test body calls, bound to its suite's settings.

Every call is logged for the test's outcome row (rendered prompt, its hash, the answer),
so the results DB can show exactly what the model saw and said.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..engines.base import Engine, GenerateRequest, Loglikelihood, LoglikelihoodRequest
from ..stash import USAGE_FIELDS
from .predictor import Prediction, Predictor


@dataclass
class CallLog:
    """The prompts and answers of one test, in call order, and what they cost."""

    prompts: list[str] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    new_prompt_tokens: int = 0  # computed in this run (not from the cache)
    new_completion_tokens: int = 0
    truncated_prompts: int = 0  # cut to the model's window, where the suite allows it (suite(..., truncate=True))

    def add(self, prompt: str, prediction: Prediction) -> None:
        value = prediction.value
        self.prompts.append(prompt)
        self.answers.append([round(value.logprob, 6), value.is_greedy] if isinstance(value, Loglikelihood) else value)
        self.requests += 1
        self.cache_hits += int(prediction.cached)
        self.prompt_tokens += prediction.prompt_tokens
        self.completion_tokens += prediction.completion_tokens
        self.truncated_prompts += int(prediction.truncated)
        if not prediction.cached:
            self.new_prompt_tokens += prediction.prompt_tokens
            self.new_completion_tokens += prediction.completion_tokens

    def as_record(self) -> dict:
        """The outcome row's prompt / response (the text of a single call, else a JSON list) and usage."""
        usage = {name: getattr(self, name) for name in USAGE_FIELDS}
        if not self.prompts:
            return {"prompt": None, "prompt_hash": None, "response": None, **usage}
        prompt = self.prompts[0] if len(self.prompts) == 1 else json.dumps(self.prompts)
        if len(self.answers) == 1 and isinstance(self.answers[0], str):
            response = self.answers[0]
        else:
            response = json.dumps(self.answers if len(self.answers) > 1 else self.answers[0])
        return {"prompt": prompt, "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
                "response": response, **usage}


class Model:
    """A model under evaluation, as a test sees it. Every call goes through the prediction cache."""

    def __init__(self, predictor: Predictor, resolved, log: CallLog, *, chat: bool = False, seed: int = 0,
                 truncate: bool = False):
        self.predictor = predictor  # its engine loads on first need, so tests that never call the model pay nothing
        self.resolved = resolved
        self.log = log
        self.chat = chat
        self.seed = seed
        self.truncate = truncate  # the suite's: prompts longer than the window are cut and counted, not errors

    @property
    def hash(self) -> str:
        return self.resolved.sha256

    @property
    def engine(self) -> Engine:
        return self.predictor.engine

    def render(self, prompt, chat: bool | None = None) -> str:
        """The exact text the model will see for a prompt (str or chat messages)."""
        return self.engine.render(prompt, self.chat if chat is None else chat)

    def generate(self, prompt, *, max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 stop: Sequence[str] | str = (), seed: int | None = None, chat: bool | None = None) -> str:
        """One completion. prompt is a string or a list of chat messages ({'role', 'content'})."""
        return self.generate_batch([prompt], max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                   stop=stop, seed=seed, chat=chat)[0]

    def generate_batch(self, prompts: Sequence, *, max_tokens: int = 256, temperature: float = 0.0,
                       top_p: float = 1.0, stop: Sequence[str] | str = (), seed: int | None = None,
                       chat: bool | None = None) -> list[str]:
        """Several completions with the same settings, batched by the engine."""
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        rendered = [self.render(p, chat) for p in prompts]
        requests = [GenerateRequest(text, max_tokens=max_tokens, temperature=float(temperature), top_p=top_p,
                                    stop=stop, seed=self.seed if seed is None else seed) for text in rendered]
        return self._logged(rendered, self.predictor.generate(requests, truncate=self._truncate(requests)))

    def sample(self, prompt, n: int, *, temperature: float = 1.0, max_tokens: int = 256, top_p: float = 1.0,
               stop: Sequence[str] | str = (), seed: int | None = None, chat: bool | None = None) -> list[str]:
        """n sampled completions of one prompt; sample i uses seed + i and is cached per sample index."""
        if temperature <= 0:
            raise ValueError(f"sample needs temperature > 0, got {temperature}")
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        text = self.render(prompt, chat)
        base = self.seed if seed is None else seed
        requests = [GenerateRequest(text, max_tokens=max_tokens, temperature=float(temperature), top_p=top_p,
                                    stop=stop, seed=base + i) for i in range(n)]
        return self._logged([text] * n, self.predictor.generate(requests, list(range(n)), self._truncate(requests)))

    def loglikelihood(self, context: str, continuation: str) -> Loglikelihood:
        """log P(continuation | context) with lm-eval semantics, and whether it is the greedy continuation."""
        return self.loglikelihood_batch([(context, continuation)])[0]

    def loglikelihood_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Loglikelihood]:
        requests = [LoglikelihoodRequest(context, continuation) for context, continuation in pairs]
        return self._logged([r.context + r.continuation for r in requests],
                            self.predictor.loglikelihood(requests, self._truncate(requests)))

    def loglikelihood_rolling(self, text: str) -> float:
        """Summed log-probability of a whole text (perplexity-style evals)."""
        return self._logged([text], self.predictor.loglikelihood_rolling([text]))[0]

    def choose(self, context: str, choices: Sequence[str]) -> int:
        """Index of the most likely choice (lm-eval's `acc`: summed log-probability, no length normalisation)."""
        return argmax(self.loglikelihood_batch([(context, choice) for choice in choices]))

    def _truncate(self, requests: Sequence) -> list[bool]:
        return [self.truncate] * len(requests)

    def _logged(self, prompts: list[str], predictions: list[Prediction]) -> list:
        """Log the answers; a prompt too long for the model's window is this test's error (window.py)."""
        for prediction in predictions:
            if prediction.error is not None:
                raise prediction.error
        for prompt, prediction in zip(prompts, predictions):
            self.log.add(prompt, prediction)
        return [p.value for p in predictions]


def argmax(scores: Sequence[Loglikelihood]) -> int:
    """The first index with the highest log-probability (ties go to the earlier choice, as in lm-eval)."""
    return max(range(len(scores)), key=lambda i: (scores[i].logprob, -i))
