"""A judge's decision about one item, from the candidate's side, and how several verdicts combine.

Pairwise: the candidate sat in slot A or B (drawn per item); the judge's slot verdict is turned
into the candidate's `win`, `loss` or `tie`. Judged in both orders, two verdicts that disagree
are a tie (MT-Bench's rule: an order-dependent verdict says the answers are close); asked K times
(`judge_samples`, stability.py), the K verdicts are settled by the declaration's rule. A verdict
the judge never wrote readably, after its retries, makes the whole judgment an error: it is
never counted as a win, a loss or a tie. Ties count half in the win rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .stability import DEFAULT_MAX_FLIP_RATE, flip_count, settle
from .templates import JudgeKind

WIN_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}
OUTPUT_KEPT = 4000  # characters of each judge output kept in the record


class JudgeError(RuntimeError):
    """The judge gave no readable verdict after its retries: the item is an error, not a result."""


def candidate_outcome(slot_verdict: str, candidate_slot: str) -> str:
    """'A' / 'B' / 'tie' (which slot the judge preferred) -> 'win' / 'loss' / 'tie' for the candidate."""
    if slot_verdict == "tie":
        return "tie"
    return "win" if slot_verdict == candidate_slot else "loss"


def combine(outcomes: list[str]) -> str:
    """One outcome from the orders judged: agreeing orders keep it, disagreeing ones make a tie."""
    return settle(outcomes, "tie")


@dataclass
class Judgment:
    """What the judge decided about one item, and everything needed to audit it later."""

    kind: JudgeKind
    judge_hash: str
    template_sha256: str
    question: str
    candidate: str
    reference: str | None = None  # pairwise
    candidate_slots: list[str] = field(default_factory=list)  # per verdict asked: "A" or "B"
    slot_verdicts: list[str | None] = field(default_factory=list)  # per verdict: "A" / "B" / "tie", None if unread
    outputs: list[str] = field(default_factory=list)  # per verdict: the judge's last text
    attempts: int = 0  # judge calls made for the slowest verdict (1 + retries used)
    outcome: str | None = None  # pairwise: "win" / "loss" / "tie"
    rating: float | None = None  # rating: 1..scale
    scale: int | None = None
    error: str | None = None
    flips: int = 0  # of the verdicts asked, how many differ from the most common (stability.flip_count)
    flip_rule: str = "tie"  # how disagreeing verdicts were settled (stability.settle); not a DB column
    max_flip_rate: float = DEFAULT_MAX_FLIP_RATE  # the summary's flag (stability.py); not a DB column
    # this run's judge on the baseline run's stored answers to the same item (rejudge.py), kept apart
    rejudged_baseline: dict | None = field(default=None, repr=False, compare=False)

    @property
    def win_value(self) -> float | None:
        """1 for a win, 0.5 for a tie, 0 for a loss; None for an error or a rating."""
        return WIN_VALUE.get(self.outcome) if self.error is None else None

    @property
    def score(self) -> float | None:
        """A rating mapped to [0, 1] (1 -> 0, scale -> 1)."""
        if self.rating is None or self.error is not None:
            return None
        return (self.rating - 1) / (self.scale - 1)

    @property
    def outcomes(self) -> list[str]:
        """The candidate's outcome per readable verdict asked, in the order they were asked."""
        return [candidate_outcome(v, s) for v, s in zip(self.slot_verdicts, self.candidate_slots) if v]

    @property
    def orders_disagree(self) -> bool:
        """Its verdicts flipped: with the order, or (judge_samples) with the judge's seed."""
        return flip_count(self.outcomes) > 0

    def record(self) -> dict:
        """The row the results DB keeps (outputs cut to OUTPUT_KEPT characters each)."""
        row = asdict(self)
        row.pop("rejudged_baseline")
        row["outputs"] = [text[:OUTPUT_KEPT] for text in self.outputs]
        row["win_value"] = self.win_value
        return row
