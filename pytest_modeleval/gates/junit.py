"""One JUnit XML testcase per gate, written into pytest's own --junitxml report.

Gates are not collected tests, so the controller hands pytest's JUnit plugin (LogXML) the
reports of a synthetic test per gate (setup, call, teardown), exactly as it receives the reports
of real tests, before LogXML writes the file in its own pytest_sessionfinish. Only LogXML sees
them: sent through `pytest_runtest_logreport` to every plugin they would also show up in the
terminal's progress and counts after the run has ended. Under pytest-xdist LogXML lives in the
controller, where the gates are computed, so this is the same with `-n`.

The testcases are `classname="modeleval.gates" name="no-regression[mmlu]"`: a failing gate has a
`<failure>` whose message explains it, a passing or overridden gate passes, and a gate that
could not be applied (no baseline) is `<skipped>` with the reason.
"""

from __future__ import annotations

from typing import Any, Literal

from .evaluate import GateResult
from .display import fmt, fmt_detectable, fmt_p

NODE_PREFIX = "modeleval/gates"  # JUnit classname "modeleval.gates"


def log_xml(config):
    """pytest's LogXML plugin when --junitxml is on, else None."""
    try:
        from _pytest.junitxml import LogXML, xml_key
    except ImportError:  # pragma: no cover - a pytest without the junitxml plugin
        return None
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        return xml
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, LogXML)), None)


def add_testcases(config, results: list[GateResult]) -> int:
    """Feed LogXML one testcase per gate result; returns how many were written (0 without --junitxml)."""
    xml = log_xml(config)
    if xml is None:
        return 0
    for result in results:
        for report in reports(result):
            xml.pytest_runtest_logreport(report)
    return len(results)


def reports(result: GateResult):
    """The setup / call / teardown reports of one gate's testcase."""
    from _pytest.reports import TestReport

    nodeid = f"{NODE_PREFIX}::{result.name}"
    location: tuple[str, int, str] = (NODE_PREFIX, 0, result.name)
    outcome: Literal["passed", "failed", "skipped"] = "passed"
    longrepr: Any = None
    if result.verdict == "fail":
        outcome, longrepr = "failed", GateFailure(result)
    elif result.verdict == "n/a":
        outcome, longrepr = "skipped", (NODE_PREFIX, 0, f"Skipped: {result.message}")
    yield TestReport(nodeid, location, {}, "passed", None, "setup")
    yield TestReport(nodeid, location, {}, outcome, longrepr, "call")
    yield TestReport(nodeid, location, {}, "passed", None, "teardown", user_properties=properties(result))


class GateFailure:
    """A failed gate as a report's longrepr: the verdict as the one-line message, the rule below it."""

    def __init__(self, result: GateResult):
        self.reprcrash = _Crash(f"{result.name}: {result.message}")
        self.text = f"{self.reprcrash.message}\nrule: {result.rule.describe()}"

    def __str__(self) -> str:
        return self.text

    def toterminal(self, tw) -> None:
        tw.line(self.text)


class _Crash:
    def __init__(self, message: str):
        self.message = message


def properties(result: GateResult) -> list[tuple[str, str]]:
    props = [("modeleval_gate", result.rule.name), ("modeleval_suite", result.suite),
             ("modeleval_metric", result.rule.metric), ("modeleval_verdict", result.verdict),
             ("modeleval_message", result.message)]
    if result.value is not None:
        props.append(("modeleval_value", fmt(result.value, result.proportion)))
    if result.baseline_value is not None:
        props += [("modeleval_baseline_run", str(result.baseline_run_id)),
                  ("modeleval_baseline_value", fmt(result.baseline_value, result.proportion)),
                  ("modeleval_p_value", fmt_p(result.p_value))]
    if result.p_adjusted is not None:
        props += [("modeleval_p_adjusted", fmt_p(result.p_adjusted)),
                  ("modeleval_correction", f"{result.correction} over {result.family_size}"),
                  ("modeleval_detectable", fmt_detectable(result.detectable, result.proportion))]
    if result.needed_n is not None:
        props.append(("modeleval_needed_n", str(result.needed_n)))
    decided = result.sequential or {}
    if "verdict" in decided:  # a sequential gate closed early: on how many of the suite's items
        props += [("modeleval_sequential", decided["verdict"]),
                  ("modeleval_items_evaluated", f"{decided['items']} of {decided['of']}")]
    elif "open" in decided:
        props.append(("modeleval_sequential", f"open after {decided['open']} rounds: fixed-size rule"))
    props += result.properties
    if result.override:
        props += [("modeleval_override_approver", result.override["approver"]),
                  ("modeleval_override_reason", result.override["reason"]),
                  ("modeleval_override_expires", result.override["expires"])]
    return props
