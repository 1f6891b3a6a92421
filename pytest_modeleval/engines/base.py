"""The engine protocol every backend speaks, and the request types it takes.

Requests are plain frozen values so they can be hashed into cache keys, sorted by
length and batched without the engine knowing which test asked for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Sequence


class EngineError(RuntimeError):
    """The engine failed (load, out of memory, server error): a test error, never a wrong answer."""


@dataclass(frozen=True)
class GenerateRequest:
    """One completion of an already rendered prompt (chat templates are applied before this)."""

    prompt: str
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    tag: str = ""  # what else identifies the request in the cache key (a judge's template hash); engines ignore it

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context), scored as lm-evaluation-harness scores it."""

    context: str
    continuation: str


@dataclass(frozen=True)
class RollingRequest:
    """log P(text) over the whole text, in windows as lm-eval's loglikelihood_rolling (perplexity)."""

    text: str


class TokenScores(NamedTuple):
    """Each token of a text scored given the tokens before it (the first token has no context and is left
    out), for membership scores (perturb/membership.py). `means` and `stds` are the mean and standard
    deviation of log p over the whole next-token distribution at each position (Min-K%++'s mu and sigma);
    None where the engine sees only the top few tokens of that distribution (vLLM, an OpenAI server)."""

    logprobs: tuple[float, ...]
    means: tuple[float, ...] | None = None
    stds: tuple[float, ...] | None = None


class Loglikelihood(NamedTuple):
    """Summed log-probability of the continuation tokens, and whether greedy decoding produces them."""

    logprob: float
    is_greedy: bool


@dataclass(frozen=True)
class EngineInfo:
    """What identifies the engine in a run record and, later, in cache keys."""

    kind: str
    version: str
    model_hash: str
    device: str = "cpu"
    dtype: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def fingerprint(self) -> dict:
        """Everything about the engine that can change an output; part of every cache key."""
        fingerprint = {"kind": self.kind, "version": self.version, "model": self.model_hash, "dtype": self.dtype,
                       "chat_template": self.extra.get("chat_template_sha256")}
        if self.extra.get("sampler"):  # engines that say how they sample: a new sampler is a new cache key
            fingerprint["sampler"] = self.extra["sampler"]
        return fingerprint


class Engine(Protocol):
    info: EngineInfo

    def render(self, prompt: str | Sequence[dict], chat: bool) -> str:
        """The exact text the model sees: a chat template applied when asked for and available."""

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Completions in request order; the engine batches internally."""

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Scores in request order; the engine batches internally."""

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Summed log-probability of each whole text (perplexity evals), in order."""

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Per-token logprobs of each text (and the next-token distribution's mean and spread where the
        engine has it), in order. Optional: an engine without it cannot give membership scores, and the
        predictor says so naming the engine."""

    def count_tokens(self, text: str) -> int:
        """Tokens in a text, for cost accounting (an estimate where the engine has no tokenizer)."""
