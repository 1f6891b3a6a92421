"""What the engines that tokenize prompts themselves (transformers, vLLM) share, so that
both see the same prompt text and score exactly the same tokens.

- `split_pair`: lm-evaluation-harness's split of (context, continuation) into tokens;
- `PromptRendering`: `render` with a chat template, and the plain-text fallback;
- `TokenizerEngine`: encoding, token counts and rolling loglikelihood on top of a
  Hugging Face-style tokenizer (`self.tokenizer`) and a context window (`self.max_length`).
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Callable, Sequence

from .base import EngineError, EngineInfo, Loglikelihood, LoglikelihoodRequest


def split_pair(context: str, continuation: str, encode: Callable[[str], list[int]],
               empty_context_token: int) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split: trailing spaces of the context move to the continuation,
    and the continuation tokens are what the whole string adds after the context's tokens.
    An empty context becomes one token (BOS, or EOS) and the whole continuation is scored."""
    if context == "":
        return [empty_context_token], encode(continuation)
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = encode(context + continuation)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens):]


def template_sha256(template: str | None) -> str | None:
    """The chat template's identity for run records and cache keys (None without one)."""
    return hashlib.sha256(template.encode()).hexdigest() if template else None


class PromptRendering:
    """`render` for any engine: `_chat_text` applies the model's chat template, or returns
    None when there is none; then the prompt is sent as plain text, with one warning."""

    _warned_no_template = False
    info: EngineInfo

    def _chat_text(self, messages: list[dict]) -> str | None:
        raise NotImplementedError

    def render(self, prompt, chat: bool) -> str:
        """Apply the chat template when asked for and present; otherwise the text as given."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        if chat:
            text = self._chat_text(messages)
            if text is not None:
                return text
            if not self._warned_no_template:
                self._warned_no_template = True
                warnings.warn(f"model sha256:{self.info.model_hash[:12]} has no chat template; "
                              "chat prompts are sent as plain text", stacklevel=2)
        if isinstance(prompt, str):
            return prompt
        return "\n\n".join(str(message["content"]) for message in messages)


class TokenizerEngine(PromptRendering):
    """Engines holding a Hugging Face-style tokenizer. Prompts are tokenized without adding
    special tokens, as lm-eval does for causal models (a chat template supplies its own)."""

    tokenizer: Any = None  # a transformers tokenizer, set by the engine that loads it
    max_length = 2048

    @property
    def rolling_limit(self) -> int:
        """Texts of this many tokens or more do not fit one rolling-loglikelihood window."""
        return self.max_length

    @property
    def scored_limit(self) -> int:
        """The most tokens of context and continuation scored without a cut: the window, plus the last token,
        which is predicted and never an input."""
        return self.max_length + 1

    def pair_tokens(self, context: str, continuation: str) -> int:
        """Tokens of a loglikelihood request as it is scored (lm-eval's split)."""
        context_tokens, continuation_tokens = self._encode_pair(context, continuation)
        return len(context_tokens) + len(continuation_tokens)

    def _chat_text(self, messages: list[dict]) -> str | None:
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        bos = self.tokenizer.bos_token_id
        return split_pair(context, continuation, self._encode, self.tokenizer.eos_token_id if bos is None else bos)

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """lm-eval's rolling loglikelihood, for texts that fit the context window: every token
        scored after the BOS (or EOS) token."""
        for text in texts:
            if self.count_tokens(text) >= self.rolling_limit:
                raise EngineError(f"loglikelihood_rolling: a text of {self.count_tokens(text)} tokens does not fit "
                                  f"the context window of {self.max_length}; split it first")
        scores = self.loglikelihood([LoglikelihoodRequest("", text) for text in texts])
        return [score.logprob for score in scores]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        raise NotImplementedError
