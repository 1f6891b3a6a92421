"""The `model` fixture: what a test body calls, bound to its suite's settings.

Every call is logged for the test's outcome row (rendered prompt, its hash, the answer),
so the results DB can show exactly what the model saw and said.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .engines.base import Engine, GenerateRequest, Loglikelihood, LoglikelihoodRequest


@dataclass
class CallLog:
    """The prompts and answers of one test, in call order."""

    prompts: list[str] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)

    def add(self, prompt: str, answer: Any) -> None:
        self.prompts.append(prompt)
        self.answers.append(answer)

    def as_record(self) -> dict:
        """prompt / response columns: the text of a single call, else a JSON list of every call."""
        if not self.prompts:
            return {"prompt": None, "prompt_hash": None, "response": None}
        prompt = self.prompts[0] if len(self.prompts) == 1 else json.dumps(self.prompts)
        if len(self.answers) == 1 and isinstance(self.answers[0], str):
            response = self.answers[0]
        else:
            response = json.dumps(self.answers if len(self.answers) > 1 else self.answers[0])
        return {"prompt": prompt, "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(), "response": response}


class Model:
    """A model under evaluation, as a test sees it."""

    def __init__(self, engine: Callable[[], Engine], resolved, log: CallLog, *, chat: bool = False, seed: int = 0):
        self._engine = engine  # loads on first call, so tests that never call the model pay nothing
        self.resolved = resolved
        self.log = log
        self.chat = chat
        self.seed = seed

    @property
    def hash(self) -> str:
        return self.resolved.sha256

    @property
    def engine(self) -> Engine:
        return self._engine()

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
        answers = self.engine.generate(requests)
        for text, answer in zip(rendered, answers):
            self.log.add(text, answer)
        return answers

    def loglikelihood(self, context: str, continuation: str) -> Loglikelihood:
        """log P(continuation | context) with lm-eval semantics, and whether it is the greedy continuation."""
        return self.loglikelihood_batch([(context, continuation)])[0]

    def loglikelihood_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Loglikelihood]:
        requests = [LoglikelihoodRequest(context, continuation) for context, continuation in pairs]
        results = self.engine.loglikelihood(requests)
        for request, result in zip(requests, results):
            self.log.add(request.context + request.continuation, [round(result.logprob, 6), result.is_greedy])
        return results

    def choose(self, context: str, choices: Sequence[str]) -> int:
        """Index of the most likely choice (lm-eval's `acc`: summed log-probability, no length normalisation)."""
        scores = self.loglikelihood_batch([(context, choice) for choice in choices])
        return max(range(len(choices)), key=lambda i: scores[i].logprob)
