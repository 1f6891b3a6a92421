"""Sequential regression gates: visit a suite's items in a fixed order, look after every round, stop when decided.

A suite with `sequential = true` ([tool.modeleval.gates], or its own table) is visited in an order fixed
by a hash of its name and each source item's id (variants and samples of one item travel together,
as one cluster), in rounds of `look-every` (default 10%) of its source items. After each complete round
every regression gate of the suite runs two anytime-valid tests by betting (stats/sequential.py) on
the per-cluster paired fall (baseline minus run for a higher-is-better metric):

- FAIL when "the fall is at most the margin" is rejected at alpha / m, m the number of regression gates
  the run can have (alpha spent across the family as Bonferroni does, so Holm at the end keeps the
  verdict: docs/statistics.md);
- pass (shown) when "the fall is at least the margin" is rejected at alpha: the anytime-valid upper
  bound of the fall lies below the margin, the non-inferiority a fixed-size gate can only call
  underpowered.

A gate decided at round r is decided by the items of rounds 0..r alone, so the live run (which skips a
suite's remaining items once every gate of it is decided), its xdist workers, a run group's union and
`modeleval gate RUN` all replay the same decision from the outcome rows. A gate still open when the
items run out is decided by the fixed-size rule, as without `sequential`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

ROUND_SHARE = 0.1  # a look after each tenth of the suite, by default


@dataclass(frozen=True)
class Order:
    """A suite's visiting order: its source items (clusters) in order, and the number per round."""

    suite: str
    clusters: tuple[str, ...]
    per_round: int
    sizes: tuple[int, ...]  # each cluster's tests (an item with its variants and samples)

    @property
    def tests(self) -> int:
        return sum(self.sizes)

    def tests_until(self, r: int) -> int:
        """The suite's tests in rounds 0..r."""
        return sum(self.sizes[:(r + 1) * self.per_round])

    @property
    def rounds(self) -> int:
        return max(1, math.ceil(len(self.clusters) / self.per_round))

    def round_of(self, item_id: str) -> int:
        """The item's round; -1 for an item the suite does not have (a baseline's item this run lacks)."""
        from ..stats import source_items

        position = self._position.get(source_items([item_id])[0])
        return -1 if position is None else position // self.per_round

    @cached_property
    def _position(self) -> dict[str, int]:
        return {cluster: i for i, cluster in enumerate(self.clusters)}


def order(suite: str, item_ids, share: float = ROUND_SHARE) -> Order:
    """The visiting order of a suite's items: the same on every machine, for every run of the suite."""
    from ..stats import source_items

    ids = sorted(set(item_ids))
    sizes = Counter(source_items(ids)) if ids else Counter()
    clusters = sorted(sizes, key=lambda c: (_key(suite, c), c))
    return Order(suite, tuple(clusters), max(1, math.ceil(share * len(clusters))),
                 tuple(sizes[c] for c in clusters))


def _key(suite: str, cluster: str) -> bytes:
    return hashlib.sha256(f"sequential:{suite}:{cluster}".encode()).digest()


@dataclass(frozen=True)
class Decision:
    """A sequential gate closed before its suite's items ran out."""

    verdict: str  # "fail" | "pass"
    round: int  # 0-based: the round after which it was decided
    rounds: int
    items: int  # the suite's tests in rounds 0..round: what the decision rests on
    of: int  # the suite's tests
    paired: int  # source items compared (paired with the baseline) by then
    e_value: float  # the largest wealth of the test that decided
    threshold: float  # 1 / the level it had to clear
    bound: float  # fail: the anytime lower bound of the fall; pass: its upper bound
    level: float
    fail_e: float  # the FAIL test's largest wealth by then: 1 / it is the gate's anytime-valid p

    @property
    def p_fail(self) -> float:
        from ..stats.sequential import anytime_p

        return anytime_p(self.fail_e)

    def as_record(self) -> dict:
        """What the gate result, the DB's `gates.sequential` and the summary carry (round counted from 1)."""
        return {"verdict": self.verdict, "round": self.round + 1, "rounds": self.rounds, "items": self.items,
                "of": self.of, "paired": self.paired, "e_value": self.e_value, "threshold": self.threshold,
                "bound": self.bound, "level": self.level}


def describe(record: dict) -> str:
    """`decided after 90 of 256 items (round 4 of 26, ...)`, from a decision's record."""
    return (f"decided after {record['items']:,} of {record['of']:,} items (round {record['round']} of "
            f"{record['rounds']}, {record['paired']:,} paired source items)")


def applies(new: dict, old: dict) -> bool:
    """Whether a metric can be gated sequentially: every value a proportion (the tests need a bounded mean)."""
    return all(0.0 <= v <= 1.0 for v in new.values()) and all(0.0 <= v <= 1.0 for v in old.values())


def decide(plan: Order, new: dict, old: dict, *, margin: float, better: str, alpha: float, alpha_fail: float,
           upto: int | None = None) -> Decision | None:
    """The first round (0..upto) after which the gate is decided, or None while it is open.

    `new` / `old`: item id -> value of the metric in this run and in the baseline. The fall of a source item
    is the mean of its shared items' falls; the tests read the falls in visiting order.
    """
    import numpy as np

    from ..stats import source_items
    from ..stats.sequential import Bet, bound

    per_cluster: dict[str, list[float]] = {}
    for item in new.keys() & old.keys():
        fall = old[item] - new[item] if better == "higher" else new[item] - old[item]
        per_cluster.setdefault(source_items([item])[0], []).append(fall)
    last = plan.rounds - 1 if upto is None else min(upto, plan.rounds - 1)
    falls, ends = [], []  # ends[r]: how many falls rounds 0..r hold
    for r in range(last + 1):
        for cluster in plan.clusters[r * plan.per_round:(r + 1) * plan.per_round]:
            values = per_cluster.get(cluster)
            if values:
                falls.append(sum(values) / len(values))
        ends.append(len(falls))
    if not falls:
        return None
    x = np.asarray(falls)
    fail = Bet(margin, "above").running_max(x)
    shown = Bet(margin, "below").running_max(x) if margin > -1 else np.ones(len(x))
    for r, end in enumerate(ends):
        if end == 0:
            continue
        verdict = "fail" if fail[end - 1] >= 1 / alpha_fail else "pass" if shown[end - 1] >= 1 / alpha else None
        if verdict is None:
            continue
        level = alpha_fail if verdict == "fail" else alpha
        used = x[:end]
        return Decision(verdict, r, plan.rounds, plan.tests_until(r), plan.tests, end,
                        float((fail if verdict == "fail" else shown)[end - 1]), 1 / level,
                        bound(used, level, "lower" if verdict == "fail" else "upper"), level, float(fail[end - 1]))
    return None


def family_bound(config, suites) -> int:
    """The most regression gates the run's family can hold: alpha is spent over this many (at least 1)."""
    if config.correction == "none":
        return 1
    return max(1, sum(1 for suite in suites for rule in config.rules_for(suite) if rule.kind == "regression"))


@dataclass(frozen=True)
class SuiteLook:
    """A look at one sequential suite after round `upto`: which of its gates decided, and what keeps it open."""

    decided: dict  # rule name -> Decision
    open: list  # why the suite must go on: a gate still open, a gate that cannot be decided early

    @property
    def closed(self) -> bool:
        return bool(self.decided) and not self.open

    def reason(self, suite: str) -> str:
        """The skip reason of the suite's remaining items."""
        first = max(self.decided.values(), key=lambda d: d.round)
        verdicts = ", ".join(f"{name} {'FAIL' if d.verdict == 'fail' else 'pass (shown)'}"
                             for name, d in sorted(self.decided.items()))
        return (f"modeleval: the sequential gates of suite {suite} were decided after {first.items:,} of "
                f"{first.of:,} items ({verdicts}); this item is not evaluated")


def look(config, suite: str, current: dict, before: dict, ids, upto: int, family: int) -> SuiteLook:
    """The suite's gates after rounds 0..upto, as the end of the run will replay them. `current` / `before`:
    metric -> item id -> value of the suite in this run and in the baseline (evaluate.item_values)."""
    plan = order(suite, ids, config.look_every)
    decided, still_open = {}, []
    for rule in config.rules_for(suite):
        new = current.get(rule.metric)
        if not new:
            continue  # the suite records no such metric (yet): the rule gates nothing
        if rule.kind != "regression":
            still_open.append(f"{rule.name} is a threshold rule (decided on all items)")
            continue
        old = before.get(rule.metric)
        if not old:
            continue  # n/a whatever the suite's size
        if not applies(new, old):
            still_open.append(f"{rule.name}: {rule.metric} is not a proportion")
            continue
        decision = decide(plan, new, old, margin=rule.margin, better=rule.better, alpha=rule.alpha,
                          alpha_fail=rule.alpha / family, upto=upto)
        if decision is None:
            still_open.append(f"{rule.name} is open")
        else:
            decided[rule.name] = decision
    return SuiteLook(decided, still_open)
