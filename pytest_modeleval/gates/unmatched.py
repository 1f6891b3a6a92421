"""Rules the project wrote that gated nothing in a run: they block it, loudly, so a typo cannot switch a gate off.

A misspelled metric (`metric = "scor"`) or suite (`[tool.modeleval.gates.suites.mmul]`) used to
leave the rule without a verdict, listed at most as "not applicable", and the run passed. Now each
rule written in [tool.modeleval.gates] that produced no verdict in the run, and each suite table
naming a suite the run does not have, is a failed gate naming what is missing, with "did you mean"
where a close name exists. A run that legitimately lacks the metric or suite (a subset of the
suites selected) says so with `optional = true` on the rule. The untouched default rules are
optional: most runs record no win rate.
"""

from __future__ import annotations

from ..config import did_you_mean
from .evaluate import GateReport, GateResult
from .rules import GateConfig, Rule

# The gate a suite table for a missing suite fails under (not a rule of its own: no override names it)
CONFIGURATION = Rule("configuration", "-", "threshold", optional=False)
_OPTIONAL = "write optional = true in the rule if a run may lack it"


def check(config: GateConfig, report: GateReport) -> None:
    """Add a failed result for each required rule that gated nothing and each suite table without its suite."""
    suites = set(report.recorded)
    gated = {(r.rule.name, r.suite) for r in report.results}
    metrics = set().union(*report.recorded.values()) if report.recorded else set()
    for rule in config.rules:
        if rule.optional or any(name == rule.name for name, _ in gated):
            continue
        report.not_recorded.pop(rule.name, None)
        report.results.append(GateResult("*", rule, "fail", (
            f"no suite of this run records the metric {rule.metric!r}{did_you_mean(rule.metric, metrics)}, so "
            f"the rule gated nothing; {_OPTIONAL}")))
    for suite, names in sorted(config.named.items()):
        rules = {rule.name: rule for rule in config.rules_for(suite)}
        if suite not in suites:
            if any(name not in rules or not rules[name].optional for name in names) or \
                    suite in config.sequential_suites:
                report.results.append(GateResult(suite, CONFIGURATION, "fail", (
                    f"[tool.modeleval.gates.suites.{suite}]: this run has no suite {suite!r}"
                    f"{did_you_mean(suite, suites)}, so its rules gated nothing; {_OPTIONAL}")))
            continue
        for name in names:
            named = rules.get(name)
            if named is None or named.optional or (name, suite) in gated:
                continue
            if suite in report.not_recorded.get(name, []):
                report.not_recorded[name].remove(suite)
            report.results.append(GateResult(suite, named, "fail", (
                f"suite {suite} records no {named.metric!r}"
                f"{did_you_mean(named.metric, report.recorded.get(suite, ()))}, so the rule gated nothing; "
                f"{_OPTIONAL}")))
