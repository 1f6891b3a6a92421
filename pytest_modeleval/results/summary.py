"""Per-suite tallies of outcomes and the table printed at the end of a session."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..stash import USAGE_FIELDS
from ..stats import wilson
from ..util.text import aligned, pct


@dataclass
class SuiteTally:
    correct: int = 0
    wrong: int = 0
    errors: int = 0
    skipped: int = 0
    score_sum: float = 0.0
    scored: int = 0
    usage: dict = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))
    metrics: dict = field(default_factory=dict)  # name -> per-item values
    aggregations: dict = field(default_factory=dict)  # name -> "module:function" when not the mean
    samples: dict = field(default_factory=dict)  # samples=K suites: item id without -sK -> {sample: 1 right, 0 wrong}
    drawn: set = field(default_factory=set)  # samples=K suites: the sample indices seen, answered or not

    def add_metrics(self, metrics: dict | None, aggregations: dict | None = None) -> None:
        for name, value in (metrics or {}).items():
            self.metrics.setdefault(name, []).append(value)
        self.aggregations.update(aggregations or {})

    def metric_value(self, name: str):
        """The suite-level value of a metric: the mean of its items, or its own aggregation function."""
        values = self.metrics[name]
        where = self.aggregations.get(name)
        if where is None:
            return sum(float(v) for v in values) / len(values)
        module, _, function = where.partition(":")
        return getattr(importlib.import_module(module), function)(values)

    def add_usage(self, row: Mapping[str, Any]) -> None:
        for name in USAGE_FIELDS:
            self.usage[name] += row.get(name) or 0

    @property
    def hit_rate(self) -> float:
        return self.usage["cache_hits"] / self.usage["requests"] if self.usage["requests"] else math.nan

    def add(self, outcome: str, score: float | None, item_id: str | None = None) -> None:
        if outcome == "correct":
            self.correct += 1
        elif outcome == "wrong":
            self.wrong += 1
        elif outcome == "error":
            self.errors += 1
        else:
            self.skipped += 1
        if score is not None:
            self.score_sum += score
            self.scored += 1
        if item_id is not None:
            self.add_sample(item_id, outcome)

    def add_sample(self, item_id: str, outcome: str) -> None:
        """An outcome of a samples=K suite (its id ends `-sK`) kept per item, for `format_samples`."""
        from ..items import split_sample

        item, sample = split_sample(item_id)
        if sample is None:
            return
        self.drawn.add(sample)
        if outcome in ("correct", "wrong"):
            self.samples.setdefault(item, {})[sample] = 1 if outcome == "correct" else 0

    @property
    def answered(self) -> int:
        """Items with a right-or-wrong verdict; errors are counted apart, never as wrong answers."""
        return self.correct + self.wrong

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.answered)

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.scored if self.scored else math.nan


def tally(outcomes) -> dict[str, SuiteTally]:
    """Tallies keyed by suite from outcome dicts (with 'suite', 'outcome', 'score')."""
    tallies: dict[str, SuiteTally] = {}
    for row in outcomes:
        tally = tallies.setdefault(row["suite"], SuiteTally())
        tally.add(row["outcome"], row.get("score"), row.get("item_id"))
        tally.add_usage(row)
    return tallies


def format_table(tallies: dict[str, SuiteTally]) -> list[str]:
    header = ("suite", "n", "correct", "wrong", "errors", "accuracy", "95% CI (Wilson)", "mean score",
              "requests", "cached", "tokens in/out")
    rows = []
    for name in sorted(tallies):
        t = tallies[name]
        low, high = t.interval
        ci = "-" if math.isnan(low) else f"[{pct(low)}, {pct(high)}]"
        rows.append((name, str(t.answered), str(t.correct), str(t.wrong), str(t.errors),
                     pct(t.accuracy), ci, "-" if math.isnan(t.mean_score) else f"{t.mean_score:.3f}",
                     str(t.usage["requests"]), pct(t.hit_rate),
                     f"{t.usage['prompt_tokens']}/{t.usage['completion_tokens']}"))
    return aligned(header, rows, left=1) + truncations(tallies)


def truncations(tallies: dict[str, SuiteTally]) -> list[str]:
    """One line per suite whose prompts were cut to the model's window (suites with truncate=True)."""
    return [f"{name}: {tallies[name].usage['truncated_prompts']} prompt(s) longer than the model's window were "
            "cut from the left (truncate=True); their items are scored on what was left"
            for name in sorted(tallies) if tallies[name].usage.get("truncated_prompts")]


def format_metrics(tallies: dict[str, SuiteTally]) -> list[str]:
    """Named metrics per suite (lm-eval's metric,filter names for task suites); empty when none."""
    rows = []
    for name in sorted(tallies):
        t = tallies[name]
        for metric in t.metrics:
            value = t.metric_value(metric)
            shown = f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
            rows.append((name, metric, str(len(t.metrics[metric])), shown))
    if not rows:
        return []
    return ["", *aligned(("suite", "metric", "n", "value"), rows, left=2)]


def format_samples(tallies: dict[str, SuiteTally]) -> list[str]:
    """Per samples=K suite: pass@1, pass@K, pass^K and the flaky share with 95% intervals over items.

    Over the items with all K samples answered (as the gates read them, gates/samples.py); the intervals
    resample items, not samples (stats/repeated.py), where the table above counts every sample as an item.
    """
    rows = []
    for name in sorted(tallies):
        t = tallies[name]
        k = len(t.drawn)
        complete = {item: drawn for item, drawn in t.samples.items() if len(drawn) == k}
        if k < 2 or not complete:
            continue
        from ..stats import repeated_samples, source_items

        ids = sorted(complete)
        figures = repeated_samples([list(complete[i].values()) for i in ids], k, clusters=source_items(ids))
        shown = [f"{pct(e.value)} {_interval(e)}" for e in
                 (figures.pass_at_1, figures.pass_at_k, figures.pass_hat_k, figures.flaky)]
        rows.append((name, str(k), str(figures.items), *shown))
    if not rows:
        return []
    header = ("suite", "K", "items", "pass@1 [95% CI]", "pass@K [95% CI]", "pass^K [95% CI]", "flaky [95% CI]")
    return ["", "repeated samples (intervals over items, not samples):", *aligned(header, rows, left=1)]


def _interval(estimate) -> str:
    return "[-]" if math.isnan(estimate.lo) else f"[{pct(estimate.lo)}, {pct(estimate.hi)}]"
