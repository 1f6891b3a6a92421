"""`modeleval judge validate`: how often the judge agrees with people, and a record the gates trust.

The judge sees each labelled pair exactly as a suite would show it (the same template, the
same per-pair order draw, the same strict parsing and retries, the same cache), answer 1 in
the candidate's place. Agreement and Cohen's kappa count every pair: a verdict the judge never
wrote readably is its own category, so it always disagrees with the people instead of being
dropped (dropping would flatter a judge that fails on the hard pairs).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import labels as labels_mod
from . import templates
from .declare import judge_pair

JUDGE_LABEL = {"win": "1", "loss": "2", "tie": "tie"}  # the judge's outcome for answer 1, as a label


@dataclass
class Validation:
    judge_hash: str
    judge_ref: str
    template_sha256: str
    labels_file: str
    labels_sha256: str
    n: int
    n_errors: int
    agreement: float
    kappa: float | None
    kappa_lo: float | None
    kappa_hi: float | None
    min_kappa: float
    first_slot_rate: float | None
    both_orders: bool
    confusion: dict  # "human->judge" -> count
    samples: int = 1  # K: verdicts asked per pair (stability.py), settled by `flip_rule` into the one compared
    flip_rule: str = "tie"
    flip_rate: float | None = None  # of the readable pairs, the share whose K verdicts were not all the same

    @property
    def passed(self) -> bool:
        return self.kappa is not None and self.kappa >= self.min_kappa

    def record(self) -> dict:
        from ..results.store import now

        row = {k: v for k, v in vars(self).items() if k != "confusion"}
        row.update(passed=int(self.passed), both_orders=int(self.both_orders), created_at=now(),
                   details=json.dumps({"confusion": self.confusion}, sort_keys=True))
        return row


class _Pair:
    """A labelled pair as an item: its content seeds its order draw, so a pair is shown the same
    way whichever file, position or subset it comes in."""

    def __init__(self, pair):
        text = json.dumps([pair.question, pair.first, pair.second])
        self.id, self.variant = hashlib.sha256(text.encode()).hexdigest()[:16], 0


def judge_labels(pairs: list, predictor, render, judge_hash: str, template, *, seed: int = 0,
                 both_orders: bool = False, retries: int = 2, max_tokens: int = 512, samples: int | None = None,
                 flips: str = "tie") -> list:
    """The judge's Judgment of every pair, all pairs batched round by round; K verdicts a pair with `samples`,
    asked and settled as a Pairwise(judge_samples=K, judge_flips=...) suite asks them."""
    from ..runtime.planner import PlanContext, Planned, Planner

    planner = Planner(lambda role: predictor, render, seed, judge_hash=judge_hash)
    ctx = PlanContext("judge-validation", True, seed, render, judge_hash=judge_hash)
    plans = []
    for pair in pairs:
        first = "A" if ctx.rng(_Pair(pair)).random() < 0.5 else "B"
        plans.append(Planned(judge_pair(ctx, template, pair.question, pair.first, pair.second, first,
                                        both_orders, retries, max_tokens, samples=samples, flips=flips)))
    planner.execute(plans)
    return [p.value for p in plans]


def agreement(pairs: list, judgments: list, **fields) -> Validation:
    from ..stats import cohen_kappa

    human = [pair.label for pair in pairs]
    judge = ["error" if j.error else JUDGE_LABEL[j.outcome] for j in judgments]
    n = len(pairs)
    kappa = None
    try:
        kappa = cohen_kappa(human, judge)
    except ValueError:  # both raters used one label throughout: kappa is undefined
        pass
    decisive = [v for j in judgments if not j.error for v in j.slot_verdicts if v in ("A", "B")]
    readable = [j for j in judgments if not j.error]
    return Validation(
        flip_rate=sum(j.flips > 0 for j in readable) / len(readable) if readable else None,
        n=n, n_errors=judge.count("error"), agreement=sum(h == j for h, j in zip(human, judge)) / n,
        kappa=kappa.value if kappa else None, kappa_lo=kappa.lo if kappa else None,
        kappa_hi=kappa.hi if kappa else None,
        first_slot_rate=decisive.count("A") / len(decisive) if decisive else None,
        confusion=dict(Counter(f"{h}->{j}" for h, j in zip(human, judge))), **fields)


def validate(judge_ref: str, labels_path: Path, settings, *, rubric: str | None = None, reasoning: bool = True,
             both_orders: bool = False, limit: int | None = None, retries: int = 2,
             max_tokens: int = 512, samples: int | None = None, flips: str = "tie") -> tuple[Validation, list]:
    """Run the judge over a labels file; returns the validation (not yet stored) and the judgments."""
    from ..modelref import resolve
    from ..runtime.predictor import standalone_predictor
    from .stability import check, verdict_count

    check("judge validate", samples, both_orders, flips, 0.0)

    pairs = labels_mod.load(labels_path)[:limit]
    resolved = resolve(judge_ref, registry=settings.registry, base_dir=settings.model_base)
    template = templates.pairwise(rubric, reasoning=reasoning)
    with standalone_predictor(resolved, settings) as (engine, predictor):
        judgments = judge_labels(pairs, predictor, lambda prompt, chat, role="judge": engine.render(prompt, chat),
                                 resolved.sha256, template, seed=settings.seed, both_orders=both_orders,
                                 retries=retries, max_tokens=max_tokens, samples=samples, flips=flips)
    digest = hashlib.sha256(Path(labels_path).read_bytes()).hexdigest()
    result = agreement(pairs, judgments, judge_hash=resolved.sha256, judge_ref=resolved.ref,
                       template_sha256=template.sha256, labels_file=Path(labels_path).name,
                       labels_sha256=digest, min_kappa=settings.judge_min_kappa, both_orders=both_orders,
                       samples=verdict_count(samples, both_orders), flip_rule=flips)
    return result, judgments
