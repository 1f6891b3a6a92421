"""Whether a request fits the model's window, and by how many tokens it does not.

Every tokenizing engine cuts an over-long prompt from the left, as lm-eval does; left alone,
a 10 MB prompt would be cut without a word and its answer scored. The predictor asks here
first, for every request, cached or not: one that does not fit is an error outcome for its
item (`PromptTooLong`), unless its suite opted into counted truncation (`truncate=True`).
Engines that do not know their window (an OpenAI-compatible server) are left to refuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import EngineError

DEFAULT_WINDOW = 2048  # a config without max_position_embeddings (transformers' own default for most models)


class PromptTooLong(EngineError):
    """A request longer than the model's window: its item's error, never a cut-and-scored answer."""


def model_window(model_dir: Path) -> int:
    """The context window a converted model's config.json declares."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return int(config.get("max_position_embeddings") or DEFAULT_WINDOW)


def excess(engine, kind: str, request) -> int:
    """Tokens by which `request` (of engine method `kind`) overflows the engine's window; 0 when it fits
    or when the engine does not say what its window is."""
    window = getattr(engine, "max_length", None)
    if not isinstance(window, int) or window <= 0 or _surely_fits(engine, kind, request, window):
        return 0
    if kind == "generate":  # the prompt must leave room for max_tokens, as an OpenAI server requires
        return max(0, engine.count_tokens(request.prompt) + request.max_tokens - window)
    if kind == "loglikelihood":
        return max(0, engine.pair_tokens(request.context, request.continuation) - engine.scored_limit)
    return max(0, engine.count_tokens(request) - engine.rolling_limit + 1)


def _surely_fits(engine, kind: str, request, window: int) -> bool:
    """True when the text is so short it fits without tokenizing it (a fully cached MMLU run would otherwise spend
    seconds on it): a token holds at least one UTF-8 byte, plus at most one each for a leading-space marker and
    for the empty-context token."""
    if kind == "generate":
        return _bytes(request.prompt) + 2 + request.max_tokens <= window
    if kind == "loglikelihood":
        limit = getattr(engine, "scored_limit", None)
        return not limit or _bytes(request.context) + _bytes(request.continuation) + 2 <= limit
    limit = getattr(engine, "rolling_limit", None)
    return not limit or _bytes(request) + 2 < limit


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def cuttable(kind: str) -> bool:
    """Whether a suite may opt into cutting such a request: a rolling text is scored in full or not at all."""
    return kind != "loglikelihood_rolling"


def describe(engine, kind: str, request, over: int) -> str:
    """The error of an over-long request: its size, the window, and the way out."""
    window = engine.max_length
    if kind == "generate":
        size = (f"a prompt of {engine.count_tokens(request.prompt):,} tokens with max_tokens={request.max_tokens:,} "
                f"needs {window + over:,} tokens")
    elif kind == "loglikelihood":
        size = f"a context and continuation of {engine.scored_limit + over:,} tokens"
    else:
        size = f"a text of {engine.rolling_limit - 1 + over:,} tokens"
    way_out = "" if not cuttable(kind) else \
        "; shorten it, or let the suite cut it from the left and count it: suite(..., truncate=True)"
    return f"{size}, more than the model's window of {window:,} tokens{way_out}"
