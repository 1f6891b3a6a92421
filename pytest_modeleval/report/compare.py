"""Two runs side by side: the paired difference per suite and the items whose answer flipped.

The figures are `modeleval compare`'s: both come from `gates.comparison.compare_runs` (the gates' paired
test, the comparisons adjusted as one family with the gates' correction), here on the score alone, so
the page and the command agree to the digit. This module adds what only the page shows: the flips.
"""

from __future__ import annotations

from ..gates.comparison import NO_COMMON, ONLY_IN, RunItems
from .figures import finite


class RunValues(RunItems):
    """One run's per-item values and outcomes (`gates.comparison.RunItems`), read once and shared by every
    pair it is in."""

    def __init__(self, db, run_id: int):
        read = RunItems.read(db, run_id)
        super().__init__(read.run_id, read.values, read.suites, read.outcomes)


def compare(a: RunItems, b: RunItems, *, correction: str = "holm") -> dict:
    """Run b against run a (delta = b - a) on the score of the items both answered, suite by suite; `p_adjusted`
    over the suites compared, by the gates' `correction` (Holm unless the project says otherwise)."""
    from ..gates.comparison import compare_runs

    result = compare_runs(a, b, metrics=["score"], correction=correction)
    suites = []
    for row in result.rows:
        suite = row.suite
        entry: dict = {"suite": suite}
        if row.missing == ONLY_IN:
            entry["note"] = f"only in run {a.run_id if row.missing_in == b.run_id else b.run_id}"
        elif row.missing in (None, NO_COMMON):
            entry.update(only_a=row.only_a, only_b=row.only_b)
            if row.missing == NO_COMMON:
                entry["note"] = "no items in common"
            else:
                cmp = row.paired
                entry.update(n=cmp.n, clusters=cmp.n_clusters, mean_a=cmp.baseline_mean, mean_b=cmp.mean,
                             delta=cmp.delta, ci_lo=finite(cmp.ci[0]) if cmp.ci else None,
                             ci_hi=finite(cmp.ci[1]) if cmp.ci else None, p_value=finite(cmp.p_value),
                             p_adjusted=finite(row.p_adjusted), test=cmp.test, proportion=cmp.proportion)
        else:  # UNANSWERED, NOT_RECORDED
            entry["note"] = f"no answered items with a score in run {row.missing_in}"
        entry["flips"] = flips(a, b, suite)
        entry["to_wrong"] = sum(1 for f in entry["flips"] if f[1] == "correct")
        entry["to_correct"] = len(entry["flips"]) - entry["to_wrong"]
        suites.append(entry)
    return {"a": a.run_id, "b": b.run_id, "suites": suites, "correction": result.correction,
            "family_size": result.family_size}


def flips(a: RunItems, b: RunItems, suite: str) -> list[list]:
    """[item_id, outcome in a, outcome in b] for items right in one run and wrong in the other."""
    after = b.outcomes.get(suite, {})
    answered = ("correct", "wrong")
    return sorted([item, before, after[item]] for item, before in a.outcomes.get(suite, {}).items()
                  if before in answered and after.get(item) in answered and after[item] != before)


def default_pairs(runs: list[dict]) -> list[tuple[int, int]]:
    """The pairs every build writes: each run against the one before it, and against its gates' baseline run."""
    ids = [run["id"] for run in runs]
    known = set(ids)
    pairs = []
    for before, run in zip([None, *ids], runs):
        if before is not None:
            pairs.append((before, run["id"]))
        base = run.get("baseline_run_id")
        if base in known and base != run["id"]:
            pairs.append((base, run["id"]))
    # grouped by run, so a run's items are read once while its pairs come by (the baseline stays cached)
    return list(dict.fromkeys(pairs))
