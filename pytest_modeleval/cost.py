"""Estimated cost of a run from a price table in [tool.modeleval.prices] (USD per million tokens).

    [tool.modeleval.prices]
    default = { prompt = 0.0, completion = 0.0 }
    "openai:http://127.0.0.1:8000/v1#judge" = { prompt = 2.5, completion = 10.0 }
    "sha256:b179c952" = { prompt = 0.1, completion = 0.1 }

The entry for the model reference as written wins, then a sha256 prefix of the model
hash, then `default`. Only tokens computed in this run cost money; cached ones are free.
"""

from __future__ import annotations


class PriceError(ValueError):
    """A malformed price table entry; the message names the key."""


def price_for(prices: dict, ref: str, model_hash: str) -> tuple[float, float] | None:
    """(USD per million prompt tokens, per million completion tokens), or None without an entry."""
    key = ref if ref in prices else next((name for name in prices if name.startswith("sha256:")
                                          and model_hash.startswith(name[7:].lower())), "default")
    entry = prices.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not set(entry) <= {"prompt", "completion"}:
        raise PriceError(f"[tool.modeleval.prices] {key!r}: expected {{ prompt = N, completion = N }}, got {entry!r}")
    try:
        return float(entry.get("prompt", 0.0)), float(entry.get("completion", 0.0))
    except (TypeError, ValueError):
        raise PriceError(f"[tool.modeleval.prices] {key!r}: prices must be numbers, got {entry!r}") from None


def estimate(price: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
