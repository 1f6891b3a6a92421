"""What a run's judgments add up to, per suite: win rate, position bias, length effects, sample size.

- Win rate: ties count half; a Wilson interval on (wins + ties / 2) out of n judged items.
  Unreadable verdicts are errors, outside n, and counted apart.
- Position bias: of the verdicts that named a slot (ties and unreadable ones aside), how
  often the first slot (A) won, with a Wilson interval; 50% is an unbiased judge.
- Stability: judged in both orders or K times (`judge_samples`), the share of items whose verdicts
  flipped (stability.py), flagged beside the judge's validation when above the suite's threshold.
- Verbosity: the win rate when the candidate's answer is longer than the reference and when
  it is shorter, and a length-controlled win rate in AlpacaEval's manner: a logistic model
  of the outcome on tanh(length difference / its standard deviation), read at a length
  difference of zero.
- Sample size: a warning when n is below what a difference of MDE_EFFECT from 50% needs
  (stats.sample_size_for_effect, two-sided 5%, power 80%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..util.text import pct
from .stability import DEFAULT_MAX_FLIP_RATE

MDE_EFFECT = 0.05  # the gate reads "win rate >= 50%, CI not below 45%": five points is what must be seen


@dataclass
class JudgeSummary:
    suite: str
    kind: str
    n: int  # judged items with a readable verdict
    errors: int  # items whose verdict stayed unreadable
    wins: int = 0
    ties: int = 0
    losses: int = 0
    win_rate: float | None = None
    win_ci: tuple[float, float] | None = None
    first_slot_rate: float | None = None  # of decisive slot verdicts, how many picked slot A
    first_slot_n: int = 0
    samples: int = 1  # verdicts asked per item (the most any item had): both orders, judge_samples
    both_orders: bool = False  # the verdicts were asked in both orders
    flipped: int | None = None  # with samples > 1: how many items got verdicts that disagree
    flip_rule: str = "tie"  # how such an item was counted (stability.settle)
    max_flip_rate: float = DEFAULT_MAX_FLIP_RATE
    longer_win_rate: float | None = None
    shorter_win_rate: float | None = None
    lc_win_rate: float | None = None
    mean_rating: float | None = None
    needed_n: int | None = None  # items needed to see MDE_EFFECT, when n is below it
    judges: tuple = ()  # (judge_hash, template_sha256) pairs seen

    @property
    def flip_rate(self) -> float | None:
        """The share of judged items whose verdicts flipped; None when each was asked once."""
        return self.flipped / self.n if self.flipped is not None and self.n else None

    @property
    def unstable(self) -> bool:
        """The judge's verdicts flipped on more of the items than the suite allows."""
        return self.flip_rate is not None and self.flip_rate > self.max_flip_rate


def summarize(suite: str, records: list[dict]) -> JudgeSummary:
    from ..stats import sample_size_for_effect, wilson

    kind = records[0]["kind"]
    ok = [r for r in records if r.get("error") is None]
    s = JudgeSummary(suite, kind, len(ok), len(records) - len(ok),
                     judges=tuple(sorted({(r["judge_hash"], r["template_sha256"]) for r in records})))
    if kind == "rating":
        ratings = [r["rating"] for r in ok]
        s.mean_rating = sum(ratings) / len(ratings) if ratings else None
        return s
    values = [r["win_value"] for r in ok]
    s.wins, s.ties, s.losses = values.count(1.0), values.count(0.5), values.count(0.0)
    if values:
        s.win_rate = sum(values) / len(values)
        s.win_ci = wilson(sum(values), len(values))
        needed = sample_size_for_effect(MDE_EFFECT, baseline=0.5)
        s.needed_n = needed if len(values) < needed else None
    decisive = [v for r in ok for v in r["slot_verdicts"] if v in ("A", "B")]
    if decisive:
        s.first_slot_n = len(decisive)
        s.first_slot_rate = decisive.count("A") / len(decisive)
    if any(len(r["candidate_slots"]) > 1 for r in ok):
        _stability(s, ok)
    diffs = [len(r["candidate"]) - len(r["reference"] or "") for r in ok]
    longer = [v for v, d in zip(values, diffs) if d > 0]
    shorter = [v for v, d in zip(values, diffs) if d < 0]
    s.longer_win_rate = sum(longer) / len(longer) if longer else None
    s.shorter_win_rate = sum(shorter) / len(shorter) if shorter else None
    s.lc_win_rate = length_controlled_win_rate(values, diffs)
    return s


def _stability(s: JudgeSummary, ok: list[dict]) -> None:
    """How often the verdicts asked several times flipped (from the recorded verdicts, so a run recorded
    before `flips` was a column counts alike), and the rule and threshold its records carry."""
    from .judgment import candidate_outcome
    from .stability import flip_count

    s.samples = max(len(r["candidate_slots"]) for r in ok)
    s.both_orders = any(len(set(r["candidate_slots"])) > 1 for r in ok)
    outcomes = [[candidate_outcome(v, slot) for v, slot in zip(r["slot_verdicts"], r["candidate_slots"])] for r in ok]
    s.flipped = sum(flip_count(item) > 0 for item in outcomes)
    s.flip_rule = next((r["flip_rule"] for r in ok if r.get("flip_rule")), "tie")
    s.max_flip_rate = min((r["max_flip_rate"] for r in ok if r.get("max_flip_rate") is not None),
                          default=DEFAULT_MAX_FLIP_RATE)


def length_controlled_win_rate(values: list[float], diffs: list[float]) -> float | None:
    """P(win) at equal length from a logistic fit of the outcome on tanh(length difference / sd).

    Fractional outcomes (a tie is 0.5) are fitted by Newton-Raphson on the binomial likelihood,
    with a small ridge penalty on the slope so that separable data (every longer answer wins)
    still gives a finite answer. None when the lengths never differ or there are < 4 items.
    """
    import numpy as np

    if len(values) < 4:
        return None
    d = np.asarray(diffs, dtype=float)
    sd = d.std()
    if sd == 0:
        return None
    x = np.column_stack([np.ones_like(d), np.tanh(d / sd)])
    y = np.asarray(values, dtype=float)
    beta = np.zeros(2)
    ridge = np.diag([0.0, 1e-3])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ beta)))
        w = np.clip(p * (1 - p), 1e-9, None)
        step = np.linalg.solve(x.T @ (x * w[:, None]) + ridge, x.T @ (y - p) - ridge @ beta)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(1 / (1 + math.exp(-beta[0])))


def lines(summaries: list[JudgeSummary], validation: dict) -> list[str]:
    """The judge section of the terminal summary. `validation`: (judge, template) -> status text."""
    from ..util.text import aligned

    out = []
    pairwise = [s for s in summaries if s.kind == "pairwise"]
    if pairwise:
        header = ("suite", "n", "win", "tie", "loss", "errors", "win rate", "95% CI (Wilson)", "LC win rate",
                  "first slot won")
        rows = []
        for s in pairwise:
            rows.append((s.suite, str(s.n), str(s.wins), str(s.ties), str(s.losses), str(s.errors),
                         pct(s.win_rate), f"[{pct(s.win_ci[0])}, {pct(s.win_ci[1])}]" if s.win_ci else "-",
                         pct(s.lc_win_rate), f"{pct(s.first_slot_rate)} of {s.first_slot_n}"
                         if s.first_slot_n else "-"))
        out += aligned(header, rows, left=1)
    for s in summaries:
        if s.kind == "rating":
            rating = "-" if s.mean_rating is None else f"{s.mean_rating:.2f}"
            out.append(f"{s.suite}: mean rating {rating} on {s.n} items, {s.errors} unreadable")
        if s.longer_win_rate is not None or s.shorter_win_rate is not None:
            out.append(f"{s.suite}: win rate {pct(s.longer_win_rate)} when the candidate is longer, "
                       f"{pct(s.shorter_win_rate)} when shorter (length-controlled {pct(s.lc_win_rate)})")
        if s.flipped is not None:
            out.append(flip_line(s))
        if s.needed_n is not None:
            out.append(f"{s.suite}: only {s.n} judged items; about {s.needed_n} are needed to tell a win rate "
                       f"{pct(0.5 + MDE_EFFECT)} from 50% (5% two-sided, 80% power)")
        if s.errors:
            out.append(f"{s.suite}: {s.errors} item(s) had no readable verdict after retries: errors, "
                       "not wins, losses or ties")
        for judge, template in s.judges:
            out.append(f"{s.suite}: judge sha256:{judge[:12]}, template {template[:12]}: "
                       f"{validation.get((judge, template), 'not checked')}{stability_note(s)}")
    return out


def flip_line(s: JudgeSummary) -> str:
    """How often the suite's verdicts flipped, and how a flipped item was counted."""
    how = "both orders" if s.both_orders else "one order"
    if s.samples > (2 if s.both_orders else 1):
        how += ", sampled"
    if s.samples == 2 and s.both_orders:
        head = "the two orders disagreed"
    else:
        head = f"the judge's {s.samples} verdicts per item ({how}) disagreed"
    counted = "counted as ties" if s.flip_rule == "tie" else "counted by their majority, a tie without one"
    return f"{s.suite}: {head} on {s.flipped} of {s.n} items (flip rate {pct(s.flip_rate)}; {counted})"


def stability_note(s: JudgeSummary) -> str:
    """The flip rate beside the judge's validation; UNSTABLE when it exceeds the suite's threshold."""
    if s.flip_rate is None:
        return ""
    if s.unstable:
        return (f"; UNSTABLE: its verdicts flipped on {pct(s.flip_rate)} of {s.n} items, above the "
                f"{pct(s.max_flip_rate)} allowed (judge_max_flip_rate)")
    return f"; flip rate {pct(s.flip_rate)} (at most {pct(s.max_flip_rate)} allowed)"
