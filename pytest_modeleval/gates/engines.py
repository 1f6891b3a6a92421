"""A regression gate whose baseline ran on another engine or dtype says so.

Greedy outputs and loglikelihoods move between engines and dtypes (docs/engines.md, "Parity
between engines"), so a fall against such a baseline may be the engine's, not the checkpoint's.
The comparison stays paired on the same items; only its message names the difference.
"""

from __future__ import annotations

from ..results import runs


def engine_of(run: dict | None) -> tuple[str, str] | None:
    """(engine, dtype) a runs row records; None when it records no engine (a run that never loaded one)."""
    if not run or not run.get("engine"):
        return None
    return run["engine"], run.get("engine_dtype") or "?"


def difference(baseline: tuple[str, str] | None, current: tuple[str, str] | None) -> str:
    """The note for a baseline on another engine or dtype; "" when they match or one is unknown."""
    if baseline is None or current is None or baseline == current:
        return ""
    what = "engines" if baseline[0] != current[0] else "dtypes"
    return f"(baseline on {' '.join(baseline)}, this run on {' '.join(current)}: the {what} differ)"


def note_engines(report, db, run_id: int) -> None:
    """Append the note to the regression gates compared with a baseline run on another engine or dtype."""
    baseline = report.baseline
    if baseline is None:
        return
    note = difference(engine_of(runs.run(db, baseline.run_id)), engine_of(runs.run(db, run_id)))
    if not note:
        return
    for result in report.results:
        if result.rule.kind == "regression" and result.baseline_run_id == baseline.run_id and result.delta is not None:
            result.message = f"{result.message} {note}"
