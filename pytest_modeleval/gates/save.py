"""Gate verdicts into the results DB: a `gates` row per gate, the run's status and applied overrides."""

from __future__ import annotations

import json
import math

from ..results.gating import replace_gates
from .evaluate import GateReport


def record(store, run_id: int, report: GateReport, overrides: dict | None) -> None:
    rows = [{
        "run_id": run_id, "suite": r.suite, "gate": r.rule.name, "metric": r.rule.metric, "kind": r.rule.kind,
        "verdict": r.verdict, "n": r.n, "value": r.value,
        "ci_lo": r.ci[0] if r.ci else None, "ci_hi": r.ci[1] if r.ci else None,
        "baseline_run_id": r.baseline_run_id, "baseline_value": r.baseline_value, "delta": r.delta,
        "p_value": r.p_value, "test": r.test, "message": r.message,
        "missing": json.dumps(r.missing) if r.missing else None,
        "override": json.dumps(r.override) if r.override else None,
        "p_adjusted": r.p_adjusted, "correction": r.correction, "family_size": r.family_size,
        "detectable": r.detectable if r.detectable is None or math.isfinite(r.detectable) else None,
        "needed_n": r.needed_n, "underpowered": int(r.underpowered) if r.rule.kind == "regression" else None,
        "sequential": json.dumps(r.sequential) if r.sequential else None,
    } for r in report.results]
    replace_gates(store.db, run_id, rows)  # a run gated again (`modeleval gate`) keeps only its new verdicts
    store.update_run(run_id, {
        "baseline_run_id": report.baseline.run_id if report.baseline is not None else None,
        "gate_status": report.status, "gates_failed": len(report.failed),
        "overrides": json.dumps(overrides) if overrides else None,
    })
