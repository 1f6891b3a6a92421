"""The gates section of the terminal summary: one row per gate, then what a row cannot say."""

from __future__ import annotations

import datetime

from ..util.text import aligned
from . import GATES_FAILED
from .evaluate import GateReport
from .display import fmt, fmt_delta, fmt_detectable, fmt_p

VERDICTS = {"pass": "pass", "fail": "FAIL", "n/a": "n/a", "overridden": "overridden", "underpowered": "underpowered"}


def lines(report: GateReport, *, mode: str = "enforce", overrides=None, model_hash: str = "",
          exit_status: int | None = None) -> list[str]:
    out = [f"baseline: {report.baseline.label}" if report.baseline is not None
           else f"baseline: none ({report.baseline_note})"]
    if report.results:
        header = ("suite", "gate", "metric", "n", "value", "95% CI", "baseline", "delta", "p", "p adj", "detectable",
                  "verdict")
        rows = []
        for r in report.results:
            ci = "-" if r.ci is None else f"[{_ci(r.ci[0], r)}, {_ci(r.ci[1], r)}]"
            delta = "-" if r.delta is None else fmt_delta(r.delta, r.proportion)
            rows.append((r.suite, r.rule.name, r.rule.metric, str(r.n) if r.n else "-",
                         fmt(r.value, r.proportion), ci, fmt(r.baseline_value, r.proportion), delta,
                         fmt_p(r.p_value), fmt_p(r.p_adjusted), fmt_detectable(r.detectable, r.proportion),
                         VERDICTS[r.verdict] + _qualifier(r)))
        out += aligned(header, rows, left=3)
        out.append("(CI: of the value for thresholds, of the delta against the baseline for regressions)")
        family = next((r for r in report.results if r.family_size), None)
        if family is not None:
            how = {"holm": "Holm's step-down", "bonferroni": "Bonferroni", "none": "no correction"}[family.correction or "none"]
            out.append(f"(p adj: {how} over the run's {family.family_size} regression gate"
                       f"{'s' if family.family_size != 1 else ''}; detectable: the smallest fall seen with 80% power)")
    for r in report.results:
        if r.verdict == "n/a" and r.rule.kind == "regression" and report.baseline is None:
            continue  # the baseline line above already says why
        if (r.verdict in ("fail", "overridden", "n/a", "underpowered") or "within noise" in r.message
                or "cannot show" in r.message or (r.sequential and "verdict" in r.sequential)):
            out.append(f"{VERDICTS[r.verdict]} {r.name}: {r.message}")
        if r.override:
            o = r.override
            out.append(f"  overridden by {o['approver']} until {o['expires']}: {o['reason']}")
    for r in report.results:
        if r.missing and r.rule.kind == "regression":
            m = r.missing
            parts = []
            if m["not_in_run"]:
                parts.append(f"{m['not_in_run']} baseline items have no value in this run "
                             f"({_first(m['not_in_run_first'], m['not_in_run'])})")
            if m["not_in_baseline"]:
                parts.append(f"{m['not_in_baseline']} items are new since the baseline "
                             f"({_first(m['not_in_baseline_first'], m['not_in_baseline'])})")
            out.append(f"unpaired {r.name}: " + "; ".join(parts))
    if report.suites_not_run:
        out.append(f"suites of the baseline not in this run: {', '.join(report.suites_not_run)}")
    if report.not_recorded:
        every = {r.suite for r in report.results}.union(*report.not_recorded.values())
        named = [rule if set(suites) == every else f"{rule} [{', '.join(suites)}]"
                 for rule, suites in sorted(report.not_recorded.items())]
        out.append(f"not applicable (no item records the rule's metric): {', '.join(named)}")
    if overrides is not None and overrides.status not in ("absent", "honoured") and overrides.entries:
        out.append(f"overrides IGNORED: {overrides.path.name} has {len(overrides.entries)} override(s) but "
                   f"{overrides.why_ignored()}; commit it to apply them")
    if overrides is not None and overrides.honoured and model_hash:
        today = datetime.date.today()
        for o in overrides.for_model(model_hash):
            if o.expired(today):
                out.append(f"override #{o.entry} EXPIRED on {o.expires.isoformat()}: {o.describe()}")
    failed = len(report.failed)
    total = sum(r.verdict != "n/a" for r in report.results)
    if failed:
        if mode == "report":
            consequence = "report mode: exit status unchanged"
        elif exit_status not in (None, GATES_FAILED):
            consequence = f"exit status {exit_status}: failed tests or errors come first"
        else:
            consequence = f"exit status {GATES_FAILED}"
        out.append(f"GATES FAILED: {failed} of {total} ({consequence})")
    elif total == 0:
        out.append(f"no gate applied ({len(report.results)} not applicable)")
    else:
        overridden = sum(r.verdict == "overridden" for r in report.results)
        weak = sum(r.verdict == "underpowered" for r in report.results)
        extra = (f", {overridden} by override" if overridden else "") + (
            f", {weak} underpowered (could not see a fall beyond the margin)" if weak else "")
        out.append(f"gates passed: {total} of {total}{extra}")
    return out


def _qualifier(r) -> str:
    """What the verdict word alone does not say: `(shown)` for a sequential pass, `(after 90/256)` when decided."""
    if r.underpowered and r.verdict != "underpowered":
        return " (underpowered)"
    decided = r.sequential if r.sequential and "verdict" in r.sequential else None
    if decided is None:
        return ""
    return f" ({'shown, ' if decided['verdict'] == 'pass' else ''}after {decided['items']}/{decided['of']})"


def _ci(value: float, r) -> str:
    if r.rule.kind == "regression":
        return fmt_delta(value, r.proportion).replace(" pts", "")
    return fmt(value, r.proportion)


def _first(ids: list[str], count: int) -> str:
    more = ", ..." if count > len(ids) else ""
    return ", ".join(ids) + more
