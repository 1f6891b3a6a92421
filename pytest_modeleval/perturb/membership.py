"""Likelihood membership scores: how unusually likely the model finds an item's own text.

A text the model was trained on has fewer surprising tokens. Min-K% (Shi et al., 2024) is the mean
log-probability of the k% least likely tokens; Min-K%++ (Zhang et al., 2025) first standardises each
token's logprob by the mean and spread of log p over the whole next-token distribution at its position,
so a token that is unlikely only because every token there is unlikely no longer counts as surprising.
Higher is more member-like for both. The token scores come from the engine through the predictor
(request kind `token_scores`, cached like any prediction); Min-K%++ needs the whole distribution, which
only the transformers engine gives (vLLM and OpenAI servers give the top few tokens: `None` there).

A raw score says little on its own (it depends on the text's length and style), so it is calibrated
against a reference of text that is surely not a member in the same way: the item's own variants,
and/or a held-out set the user names. `percentile` is the share of the reference below the item's score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

DEFAULT_K = 0.2  # the papers' usual setting
FLAG_PERCENTILE = 0.95  # a membership score above 95% of its reference corroborates a flag

Template = Union[str, Callable[[Any], str]]


def lowest_mean(values: Sequence[float], k: float = DEFAULT_K) -> float:
    """The mean of the lowest k share of the values (at least one), as the papers' code takes it:
    int(n * k) values from the bottom."""
    if not values:
        raise ValueError("no token to score: a text needs at least two tokens")
    if not 0 < k <= 1:
        raise ValueError(f"k must be a share in (0, 1], got {k!r}")
    count = max(1, int(len(values) * k))
    return math.fsum(sorted(values)[:count]) / count


def min_k(logprobs: Sequence[float], k: float = DEFAULT_K) -> float:
    """Min-K%: the mean logprob of the k% least likely tokens."""
    return lowest_mean(logprobs, k)


def min_k_plus_plus(logprobs: Sequence[float], means: Sequence[float] | None, stds: Sequence[float] | None,
                    k: float = DEFAULT_K) -> float | None:
    """Min-K%++: the mean of the k% lowest (logprob - mu) / sigma; None without the distribution."""
    if means is None or stds is None:
        return None
    standardised = [(lp - mu) / sigma if sigma > 0 else 0.0 for lp, mu, sigma in zip(logprobs, means, stds)]
    return lowest_mean(standardised, k)


def scores(token_scores, k: float = DEFAULT_K) -> dict[str, float | None]:
    """{'min_k': ..., 'min_k_pp': ...} of one engine TokenScores (min_k_pp None where the engine cannot)."""
    return {"min_k": min_k(token_scores.logprobs, k),
            "min_k_pp": min_k_plus_plus(token_scores.logprobs, token_scores.means, token_scores.stds, k)}


def percentile(value: float, reference: Sequence[float]) -> float | None:
    """The share of the reference scores below `value` (ties count half); None without a reference."""
    if not reference:
        return None
    below = sum(1 for r in reference if r < value) + 0.5 * sum(1 for r in reference if r == value)
    return below / len(reference)


@dataclass(frozen=True)
class Membership:
    """Which text of an item is scored and how it is calibrated (on `suite(..., membership=...)`).

    `text` is the item's prompt text and `answer` its reference answer (templates over the item's fields;
    None scores the text alone); the scored text is text + "\\n" + answer. `reference` names a held-out
    file of similar text never trained on (JSONL with `reference_field`, or plain text, one per line):
    its scores are the calibration set; without it, the item's own variants are (so a suite without variants
    must name one). An item's membership corroborates its perturbation flag when its percentile is
    >= `flag_percentile`."""

    text: Template = "{question}"
    answer: Template | None = "{answer}"
    k: float = DEFAULT_K
    reference: str | None = None
    reference_field: str = "text"
    flag_percentile: float = FLAG_PERCENTILE

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or not 0 < self.k <= 1:
            raise ValueError(f"Membership k must be a share in (0, 1], got {self.k!r}")
        if not 0 < self.flag_percentile <= 1:
            raise ValueError(f"Membership flag_percentile must be in (0, 1], got {self.flag_percentile!r}")

    def scored_text(self, fields) -> str:
        """The text scored for an item (a canonical item or a variant, whose fields are rewritten)."""
        text = _fill(self.text, fields)
        return text if self.answer is None else f"{text}\n{_fill(self.answer, fields)}"

    def meta(self) -> dict:
        return {"membership_k": self.k, "membership_reference": self.reference,
                "membership_flag_percentile": self.flag_percentile}


def _fill(template: Template, fields) -> str:
    if callable(template):
        return str(template(fields))
    try:
        return template.format_map(fields)
    except KeyError as exc:
        raise ValueError(f"Membership template {template!r} names field {exc.args[0]!r}, which the item lacks; "
                         f"available fields: {', '.join(fields)}") from None


def read_reference(path, field: str = "text") -> list[str]:
    """The held-out texts of a reference file: JSONL records (their `field`) or plain lines; a bad record
    is an error naming the file and line."""
    import json
    from pathlib import Path

    texts = []
    try:
        handle = Path(path).open(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the held-out reference ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if str(path).endswith(".jsonl"):
                try:
                    record = json.loads(line)
                    texts.append(str(record[field]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not a JSON record with a {field!r} field ({exc})") from None
            else:
                texts.append(line)
    if not texts:
        raise ValueError(f"{path}: no reference text")
    return texts
