"""Whether a judge may be believed: its newest validation record against human labels.

A validation is keyed by the judge's content hash and the prompt template's hash: the same
weights with another rubric are another judge. A judge counts when its newest record for that
template reached the run's --judge-min-kappa (0.7 by default, the spec's rule). The gates leave
out the verdicts of a judge that does not count, and the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

JUDGE_METRICS = ("win_rate", "judge_rating")  # metrics that only a judge's verdicts produce


@dataclass(frozen=True)
class Trust:
    counted: bool
    text: str


def latest_validation(db: Path, judge_hash: str, template_sha256: str) -> dict | None:
    """The newest record, from the results DB (a path or a URL); None before any validation ran."""
    from ..results import judging
    from ..results.db import reading

    with reading(db, tables=("judge_validations",)) as conn:
        if conn is None:  # no DB yet, or one from before judge validation existed
            return None
        return judging.latest_validation(conn, judge_hash, template_sha256)


def trust(db: Path, judge_hash: str, template_sha256: str, min_kappa: float) -> Trust:
    record = latest_validation(db, judge_hash, template_sha256)
    if record is None:
        return Trust(False, "UNVALIDATED (no validation record for this judge and template: run `modeleval judge "
                            "validate --judge REF --labels FILE`); its verdicts are not counted by the gates")
    kappa = record["kappa"]
    where = f"validation {record['id']}: kappa {kappa:.3f} on {record['n']} labelled pairs of {record['labels_file']}"
    if kappa is None or kappa < min_kappa:
        return Trust(False, f"UNVALIDATED ({where}, below the required {min_kappa:g}); "
                            "its verdicts are not counted by the gates")
    return Trust(True, f"validated ({where} >= {min_kappa:g})")


def discount(results, suite_judges: dict[str, set], trusts: dict) -> None:
    """Turn the judge-metric gate results of suites judged by a judge that does not count into n/a."""
    for result in results:
        if result.rule.metric not in JUDGE_METRICS or result.verdict == "n/a":
            continue
        untrusted = [pair for pair in sorted(suite_judges.get(result.suite, ())) if not trusts[pair].counted]
        if untrusted:
            judge, template = untrusted[0]
            result.verdict = "n/a"
            result.message = (f"not counted: judge sha256:{judge[:12]} with template {template[:12]} is "
                              f"{trusts[untrusted[0]].text.split(' (')[0].lower()} "
                              f"({result.message})")
