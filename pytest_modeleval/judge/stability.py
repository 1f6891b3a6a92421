"""A pairwise verdict asked K times: which calls to make, how many of the K verdicts flipped, what counts.

A single judge verdict can flip with the order the answers are shown in or with the judge's sampling
seed; asking K times shows how often it does. The K calls of one item are spread over the orders
(with `both_orders`, alternating: the drawn order, the swapped one, the drawn one again, ...) and over
repetitions: repetition 0 is the greedy call a single verdict makes (so K=1 and K=2 with both orders are
exactly today's requests, cached under the same keys); repetition r >= 1 is sampled at
SAMPLE_TEMPERATURE with a sample index and seed of its own, so each is cached apart and a rerun, or a
larger K later, pays only for what is new.

The K outcomes (already mapped back to the candidate's side) are settled by a rule: "tie" (MT-Bench's:
verdicts that disagree say the answers are close) or "majority" (the outcome more than half of the K
verdicts gave; a tie when none has). An item *flipped* when its K outcomes are not all the same; the
suite's flip rate is the share of its judged items that flipped, and a judge above the declaration's
`judge_max_flip_rate` (DEFAULT_MAX_FLIP_RATE) is flagged beside its validation in the summary.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

FlipRule = Literal["tie", "majority"]
FLIP_RULES: tuple[FlipRule, ...] = ("tie", "majority")
DEFAULT_MAX_FLIP_RATE = 0.2  # one item in five judged differently on asking again: not a judge to lean on
SAMPLE_TEMPERATURE = 0.7  # the repetitions after the first (and every retry) sample; greedy would repeat itself


def verdict_count(samples: int | None, both_orders: bool) -> int:
    """K: `samples` when given, else what a declaration always asked: 2 with both orders, 1 without."""
    if samples is None:
        return 2 if both_orders else 1
    return samples


def judge_calls(first: str, samples: int, both_orders: bool) -> list[tuple[str, int]]:
    """Per verdict to ask: the candidate's slot ("A" or "B") and its repetition (0 greedy, then sampled).

    With both orders the slots alternate, starting with the drawn one, and each order counts its own
    repetitions; without, every call keeps the drawn slot and each is a repetition of its own.
    """
    other = "B" if first == "A" else "A"
    if not both_orders:
        return [(first, r) for r in range(samples)]
    return [((first, other)[k % 2], k // 2) for k in range(samples)]


def sample_index(repeat: int, attempt: int, retries: int) -> int:
    """The cache's sample index (and seed offset) of one judge call: repetition 0 keeps the indices its
    attempts always had (0, 1, ... retries); repetition r starts after the retries of repetition r - 1."""
    return repeat * (retries + 1) + attempt


def flip_count(outcomes: list[str]) -> int:
    """How many of the K outcomes differ from the most common one (0: the judge never changed its mind)."""
    if not outcomes:
        return 0
    return len(outcomes) - Counter(outcomes).most_common(1)[0][1]


def settle(outcomes: list[str], rule: FlipRule = "tie") -> str:
    """One outcome from the K: the agreed one; when they disagree, a tie ("tie") or the strict majority
    ("majority", a tie when no outcome has more than half the verdicts)."""
    if len(set(outcomes)) == 1:
        return outcomes[0]
    if rule == "majority":
        outcome, count = Counter(outcomes).most_common(1)[0]
        if count * 2 > len(outcomes):
            return outcome
    return "tie"


def check(owner: str, samples: int | None, both_orders: bool, rule: str, max_flip_rate: float) -> None:
    """ValueError naming the declaration and the option, for settings that cannot be asked as written."""
    if samples is not None:
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"{owner}: judge_samples must be a whole number >= 1, got {samples!r}")
        if both_orders and samples % 2:
            raise ValueError(f"{owner}: with both_orders=True each order is asked equally often, so judge_samples "
                             f"must be even, got {samples}")
    if rule not in FLIP_RULES:
        raise ValueError(f"{owner}: judge_flips must be one of {', '.join(map(repr, FLIP_RULES))}, got {rule!r}")
    if isinstance(max_flip_rate, bool) or not isinstance(max_flip_rate, (int, float)) \
            or not 0 <= max_flip_rate <= 1:
        raise ValueError(f"{owner}: judge_max_flip_rate must be a share between 0 and 1, got {max_flip_rate!r}")
