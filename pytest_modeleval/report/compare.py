"""Two runs side by side: the paired difference per suite and the items whose answer flipped.

The statistics are `modeleval compare`'s: `gates.evaluate.item_values` reads the per-item scores and
`gates.evaluate.paired` gives the paired bootstrap interval and McNemar's exact test (cluster
bootstrap when items have variants), so the page and the command agree to the digit.
"""

from __future__ import annotations

from .figures import finite


class RunValues:
    """One run's per-item values (`item_values`) and outcomes, read once and shared by every pair it is in."""

    def __init__(self, db, run_id: int):
        from ..gates.evaluate import item_values
        from ..results.runs import outcome_values

        rows = outcome_values(db, run_id)
        self.run_id = run_id
        self.values, self.suites = item_values(rows)
        self.outcomes: dict[str, dict[str, str]] = {}
        for row in rows:
            self.outcomes.setdefault(row["suite"], {})[row["item_id"]] = row["outcome"]


def compare(a: RunValues, b: RunValues) -> dict:
    """Run b against run a (delta = b - a) on the score of the items both answered, suite by suite."""
    from ..gates.evaluate import paired

    suites = []
    for suite in sorted(a.suites | b.suites):
        entry = {"suite": suite}
        va, vb = a.values.get(suite, {}).get("score"), b.values.get(suite, {}).get("score")
        if suite not in a.suites or suite not in b.suites:
            entry["note"] = f"only in run {a.run_id if suite in a.suites else b.run_id}"
        elif not va or not vb:
            entry["note"] = f"no answered items with a score in run {a.run_id if not va else b.run_id}"
        else:
            shared = sorted(va.keys() & vb.keys())
            entry.update(only_a=len(va.keys() - vb.keys()), only_b=len(vb.keys() - va.keys()))
            if not shared:
                entry["note"] = "no items in common"
            else:
                cmp = paired([vb[i] for i in shared], [va[i] for i in shared], shared)
                entry.update(n=cmp.n, clusters=cmp.n_clusters, mean_a=cmp.baseline_mean, mean_b=cmp.mean,
                             delta=cmp.delta, ci_lo=finite(cmp.ci[0]) if cmp.ci else None,
                             ci_hi=finite(cmp.ci[1]) if cmp.ci else None, p_value=finite(cmp.p_value), test=cmp.test,
                             proportion=cmp.proportion)
        entry["flips"] = flips(a, b, suite)
        entry["to_wrong"] = sum(1 for f in entry["flips"] if f[1] == "correct")
        entry["to_correct"] = len(entry["flips"]) - entry["to_wrong"]
        suites.append(entry)
    return {"a": a.run_id, "b": b.run_id, "suites": suites}


def flips(a: RunValues, b: RunValues, suite: str) -> list[list]:
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
