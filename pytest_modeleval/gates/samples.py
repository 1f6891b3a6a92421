"""A suite with samples=K as the gates see it: its K tests per item are one item's values.

Why: the K samples of an item (test ids `...-p0-s0` .. `-sK-1`) are one item drawn K times, not K items.
Gated as K independent items, every interval and every paired test would be too sure of itself: the
samples share the item's difficulty. So `evaluate.item_values` folds them: an item of a K-sample suite is
keyed by its id without the sample suffix, each metric's value is the mean over its answered samples (the
regression gate on `score` then compares per-item means, a cluster design), and the item gets the metrics
only repeated samples have:

- `pass^k`: 1 when all K samples are right, else 0 (the share of items solved every time);
- `flaky`: 1 when its samples disagree (some right, some wrong), else 0;
- `pass@1` .. `pass@K`: the unbiased pass@j of stats/passk.py from its K samples, and `pass@k` = pass@K.

These derived metrics come from the outcomes (right or wrong), not from a recorded score, and only for items
with all K samples answered: an item with an errored sample is not evidence about all K. K is the number of
distinct sample indices among the suite's rows. Everything is read from the item ids, so a recorded run
(`modeleval gate RUN`) folds the same way as the session did.
"""

from __future__ import annotations

from collections import defaultdict

from ..items import split_sample

DERIVED = ("pass^k", "flaky", "pass@k")  # besides pass@1 .. pass@K


class SampleFolder:
    """Sees every outcome row, then folds the K-sample suites' per-sample values into per-item values."""

    def __init__(self) -> None:
        self.indices: dict[str, set[int]] = defaultdict(set)  # suite -> the sample indices of its rows
        self.outcomes: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))  # 1 right, 0 wrong

    def see(self, row) -> None:
        """Any row, answered or not (an errored sample still says the suite drew it)."""
        item, sample = split_sample(str(row["item_id"]))
        if sample is None:
            return
        self.indices[row["suite"]].add(sample)
        if row["outcome"] in ("correct", "wrong"):
            self.outcomes[row["suite"]][item].append(1 if row["outcome"] == "correct" else 0)

    def fold(self, values: dict) -> dict:
        """`values` (suite -> metric -> item id -> value) with each K-sample suite folded per item."""
        for suite, indices in self.indices.items():
            if suite in values:
                values[suite] = self._fold_suite(values[suite], self.outcomes[suite], len(indices))
        return values

    @staticmethod
    def _fold_suite(metrics: dict, outcomes: dict[str, list[int]], k: int) -> dict:
        from ..stats.passk import pass_at_k
        from ..stats.repeated import flaky, pass_hat_k

        folded: dict = defaultdict(dict)
        for metric, per_sample in metrics.items():
            grouped: dict[str, list[float]] = defaultdict(list)
            for item_id, value in per_sample.items():
                grouped[split_sample(item_id)[0]].append(value)
            folded[metric] = {item: sum(v) / len(v) for item, v in grouped.items()}
        complete = {item: drawn for item, drawn in outcomes.items() if len(drawn) == k}
        if k < 2 or not complete:
            return folded
        items = list(complete)
        rights = [sum(complete[item]) for item in items]
        for j in range(1, k + 1):  # one vectorized call per j, over the items
            folded[f"pass@{j}"] = dict(zip(items, map(float, pass_at_k(k, rights, j))))
        folded["pass@k"] = dict(folded[f"pass@{k}"])
        folded["pass^k"] = {item: pass_hat_k(k, right, k) for item, right in zip(items, rights)}
        folded["flaky"] = {item: flaky(complete[item]) for item in items}
        return folded
