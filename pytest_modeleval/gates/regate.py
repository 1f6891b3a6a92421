"""Gating a run from what the results DB holds: `modeleval gate RUN` and a run group's last shard.

The features that take part are the classes the caller hands in (the plugin's from the
`pytest_modeleval_features` hook, the command line's from builtin_features.py), rebuilt from the DB
(runtime/features.py `from_recorded`); they go through the same gating path as a session's (verdicts.py).
This module names none of them.
"""

from __future__ import annotations


def gate_recorded(store, rid: int, baseline_spec, gate_rules, overrides_file, settings, *, features):
    """Gate a recorded run from what the DB holds, record the verdicts: (report, the features' lines, run row).

    `settings`: the project's (config.Settings), for what the features read of it (the judge's min kappa);
    `features`: the RunFeature classes that take part.
    """
    from ..runtime.features import recorded_features
    from .baseline import BaselineError, find, outcome_rows
    from .verdicts import gate_run

    db = store.db
    run_record = store.run(rid)
    baseline, note = find(db, baseline_spec, rid)
    rows = outcome_rows(db, rid)
    if not rows:
        raise BaselineError(f"run {rid} has no outcomes to gate")
    features = recorded_features(features, store, rid, rows, settings)
    report = gate_run(gate_rules, rows, baseline, note, features, db=db, model_hash=run_record["model_hash"],
                      overrides_file=overrides_file, store=store, run_id=rid)
    lines = [line for feature in features for line in feature.regated(store, rid)]
    return report, lines, run_record
