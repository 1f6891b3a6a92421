"""The one gating path: a run's outcome rows through its features to recorded verdicts.

A pytest session's gate keeper (plugin/gatekeeper.py) and a recorded run's gates (recorded.py:
`modeleval gate`, a run group's last shard) both come here with their list of run features
(runtime/features.py), so the two cannot drift apart. The steps, in order: each feature's
`gate_rows`, each feature's `gate_baseline`, `evaluate`, each feature's `adjust_gates`, the
engines' note (engines.py), the rules that gated nothing (unmatched.py), the overrides, the record. The adjustments run in FEATURES' order: the judge's first (its comparison
notes and its discount of unvalidated judges), then the red team's (refusal-rate gates) and
contamination's (the `contaminated` gate and its suite-level `cs` results). The last two touch
results no other adjustment touches, so where they run among the others changes no verdict (a
session used to decide contamination before the judge's discount, a recorded run after it).
"""

from __future__ import annotations


def gate_run(rules, rows, baseline, note: str, features, *, db=None, model_hash: str, overrides_file=None,
             store=None, run_id: int | None = None):
    """The gate report of one run; recorded in `store` when a run id is given. `db`: the results DB the
    features re-read the baseline from (None: the baseline is compared as found)."""
    from . import overrides, unmatched
    from .engines import note_engines
    from .evaluate import evaluate
    from .save import record

    rows = list(rows)
    for feature in features:
        rows = feature.gate_rows(rows)
    if db is not None:
        for feature in features:
            baseline = feature.gate_baseline(db, baseline)
    report = evaluate(rules, rows, baseline, note)
    for feature in features:
        feature.adjust_gates(report, rules, baseline)
    if db is not None and run_id is not None:
        note_engines(report, db, run_id)
    unmatched.check(rules, report)
    applied = overrides.apply(report, overrides_file, model_hash)
    if store is not None and run_id is not None:
        record(store, run_id, report, overrides_file.record(applied) if overrides_file else None)
    return report
