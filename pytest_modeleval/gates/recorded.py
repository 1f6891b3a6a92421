"""Gating a run from what the results DB holds: `modeleval gate RUN` and a run group's last shard."""

from __future__ import annotations


def gate_recorded(store, rid: int, baseline_spec, gate_rules, overrides_file, judge_min_kappa: float):
    """Gate a recorded run from what the DB holds, record the verdicts: (report, contamination, run row)."""
    from ..judge.rejudge import annotate, judge_consistent
    from ..judge.trust import discount, trust
    from . import overrides
    from .baseline import BaselineError, find, outcome_rows
    from .evaluate import evaluate
    from .record import record

    db = store.db
    run_record = store.run(rid)
    baseline, note = find(db, baseline_spec, rid)
    rows = outcome_rows(db, rid)
    if not rows:
        raise BaselineError(f"run {rid} has no outcomes to gate")
    contamination = _contamination(db, rid, rows)
    if contamination:
        rows = contamination.with_flags(rows)
    judges, kinds = _judges(db, rid)
    baseline, comparisons = judge_consistent(db, baseline, judges, kinds)
    report = evaluate(gate_rules, rows, baseline, note)
    annotate(report.results, comparisons, baseline)
    if judges:  # as in a session: a judge not validated against human labels does not decide a gate
        pairs = set().union(*judges.values())
        discount(report.results, judges, {pair: trust(store.path, *pair, judge_min_kappa)
                                          for pair in pairs})
    if contamination:
        contamination.decide(report, gate_rules)
    applied = overrides.apply(report, overrides_file, run_record["model_hash"])
    record(store, rid, report, overrides_file.record(applied) if overrides_file else None)
    if contamination:
        contamination.record(store, rid)
    return report, contamination, run_record


def _judges(db, rid: int) -> tuple[dict, dict]:
    """The run's judged suites: suite -> its (judge, template) pairs, and suite -> the judgments' kind."""
    pairs, kinds = {}, {}
    if "judgments" in db.table_names():
        for row in db.query("SELECT DISTINCT suite, kind, judge_hash, template_sha256 FROM judgments "
                            "WHERE run_id = ?", [rid]):
            pairs.setdefault(row["suite"], set()).add((row["judge_hash"], row["template_sha256"]))
            kinds.setdefault(row["suite"], row["kind"])
    return pairs, kinds


def _contamination(db, rid: int, rows: list[dict]):
    """The run's contamination scores, from its outcomes and its perturbed suites' recorded parameters."""
    from ..perturb.run import RunContamination

    meta = {row["suite"]: row for row in db.query("SELECT * FROM suites WHERE run_id = ?", [rid])}
    contamination = RunContamination()
    for row in rows:
        contamination.add({**row, "suite_meta": meta.get(row["suite"])})
    return contamination
