"""`p_correct`: the probability a model's choice distribution puts on the right answer of a multiple-choice item.

The distribution is the softmax over the choices' loglikelihoods, normalised the way the
accuracy decision normalises them (raw sums for `acc`, per character for lm-eval's
`acc_norm`, per byte for `acc_bytes`), so that the choice with the highest probability is the
one the accuracy counts. Accuracy keeps one bit per item; `p_correct` keeps how sure the model
was, a lower-variance figure for gating a multiple-choice suite (a different estimand: see
docs/gates.md).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def softmax(scores: Sequence[float]) -> list[float]:
    """exp(s_i) / sum_j exp(s_j), shifted by the largest score so that no term overflows."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


def p_correct(scores: Sequence[float], gold: int | Iterable[int]) -> float:
    """The probability mass on the right choice (or on any of several right choices)."""
    probabilities = softmax(scores)
    golds = {gold} if isinstance(gold, int) else set(gold)
    return float(sum(probabilities[i] for i in golds))
