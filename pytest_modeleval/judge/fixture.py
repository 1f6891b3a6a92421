"""The `judge` fixture (imperative judging in a test body) and how a judgment lands on its test.

Imperative calls run the same steps as the declared Pairwise / Graded suites, through the
planner's executor, so they share the cache keys, the order draw, the retries and the
strict parsing; only the batching across items is lost.
"""

from __future__ import annotations

import pytest

from . import templates
from .declare import baseline_of, judge_pair, judge_rating
from .judgment import JudgeError, Judgment
from .stability import DEFAULT_MAX_FLIP_RATE, FlipRule, check


class Judge:
    """The --judge model as a test sees it: its steps run through the run's planner (runtime/planner.py)."""

    def __init__(self, planner, ctx, item):
        self._planner = planner
        self._ctx = ctx
        self._item = item
        self._request = None

    @property
    def hash(self) -> str:
        return self._ctx.judge_hash

    def compare(self, question, candidate: str, reference: str, *, rubric: str | None = None,
                both_orders: bool = False, reasoning: bool = True, retries: int = 2,
                max_tokens: int = 512, samples: int | None = None, flips: FlipRule = "tie",
                max_flip_rate: float = DEFAULT_MAX_FLIP_RATE) -> Judgment:
        """Judge the candidate's answer against a reference; the order is drawn per item. `samples`,
        `flips`, `max_flip_rate`: a declaration's judge_samples, judge_flips, judge_max_flip_rate."""
        from .declare import question_text

        check("judge.compare", samples, both_orders, flips, max_flip_rate)
        template = templates.pairwise(rubric, reasoning=reasoning)
        first = "A" if self._ctx.rng(self._item).random() < 0.5 else "B"
        return self._finish(judge_pair(self._ctx, template, question_text(question), str(candidate),
                                       str(reference), first, both_orders, retries, max_tokens,
                                       baseline=baseline_of(self._ctx, self._item, "pairwise", template),
                                       samples=samples, flips=flips, max_flip_rate=max_flip_rate))

    def grade(self, question, answer: str, *, rubric: str | None = None, scale: int = 10, reasoning: bool = True,
              retries: int = 2, max_tokens: int = 512) -> Judgment:
        """Rate one answer from 1 to `scale` on the rubric."""
        from .declare import question_text

        template = templates.rating(rubric, scale=scale, reasoning=reasoning)
        return self._finish(judge_rating(self._ctx, template, question_text(question), str(answer), retries,
                                         max_tokens, baseline=baseline_of(self._ctx, self._item, "rating", template)))

    def _finish(self, steps) -> Judgment:
        from ..runtime.planner import Planned

        planned = Planned(steps)
        self._planner.execute([planned])
        return recorded(self._request, planned.value)


class _Anonymous:
    """Stands in for a suite item in tests that judge without one: the test id seeds the order."""

    def __init__(self, nodeid: str):
        self.id, self.variant = nodeid, 0


def judge_for(request, pool, planner) -> Judge:
    """The judge of this test: `pool` (runtime/pool.py) knows whether the run has one, `planner` runs its steps."""
    from ..suite import MARK

    if pool.judge is None:
        from ..suite import NO_JUDGE_REASON

        pytest.skip(NO_JUDGE_REASON)
    marker = request.node.get_closest_marker(MARK)
    spec = marker.args[0] if marker else None
    item = getattr(getattr(request.node, "callspec", None), "params", {}).get("item") or _Anonymous(request.node.nodeid)
    ctx = planner.context(spec.name if spec else request.node.nodeid, bool(spec and spec.chat))
    judge = Judge(planner, ctx, item)
    judge._request = request
    return judge


def recorded(request, judgment: Judgment) -> Judgment:
    """Put a judgment on its test: the DB row, the metric the gates read, and an error when unreadable."""
    from ..stash import BASELINE_JUDGMENT_KEY, JUDGMENT_KEY, METRICS_KEY, SCORE_KEY

    node = request.node
    node.stash[JUDGMENT_KEY] = judgment.record()
    if judgment.rejudged_baseline is not None:  # recorded against the baseline run, whatever this item's fate
        node.stash[BASELINE_JUDGMENT_KEY] = judgment.rejudged_baseline
    if judgment.error is not None:
        raise JudgeError(judgment.error)
    metrics = node.stash.setdefault(METRICS_KEY, {})
    if judgment.kind == "pairwise":
        metrics["win_rate"] = judgment.win_value
    else:
        metrics["judge_rating"] = judgment.rating
        node.stash[SCORE_KEY] = judgment.score
    return judgment
