"""Sampled human evaluation: blinded pairs out to raters, their labels back in, agreement with the judge.

A judge's win rate is only as good as the judge; a few dozen human labels on the same run say
whether people see the same thing. The sample is stratified by suite and judge verdict (judge
errors are a stratum of their own) so rare verdicts are not missed, and blinded: raters see an
opaque id, the question and two answers in a per-item random order, never the suite, model,
judge or verdict. `human_samples` keeps what un-blinds each id; `human_labels` what came back.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .labels import Preference

COLUMNS = ("sample_id", "question", "response_1", "response_2", "label", "rater", "notes")
LABELS = {"1": "1", "a": "1", "2": "2", "b": "2", "tie": "tie", "3": "tie", "c": "tie"}
JUDGE_SIDE = {"win": "candidate", "loss": "reference", "tie": "tie"}
ERROR = "error"


class HumanError(ValueError):
    """A bad export request or labels file; the message names the run, or FILE:LINE."""


# ---------------------------------------------------------------- export

def export(db, run_id: int, n: int, out_dir, seed: int = 0) -> tuple[Path, Path, list[dict]]:
    """Write human-run{N}.csv and .jsonl (the same rows) in out_dir and record each sample for import."""
    from ..results.judging import add_human_samples, pairwise_pairs
    from ..results.store import now

    db = getattr(db, "db", db)  # a Store or its Database
    if n < 1:
        raise HumanError(f"--n {n}: must be at least 1")
    judgments = pairwise_pairs(db, run_id)
    if not judgments:
        raise HumanError(f"run {run_id} has no pairwise judgments with both answers recorded: nothing to show raters")
    strata: dict[tuple[str, str], list[dict]] = {}
    for row in judgments:
        strata.setdefault((row["suite"], stratum_of(row)), []).append(row)
    rng = random.Random(f"{seed}:{run_id}")
    counts = allocate({key: len(rows) for key, rows in strata.items()}, n)
    chosen = [row for key in sorted(strata) for row in rng.sample(strata[key], counts[key])]
    rng.shuffle(chosen)
    out_rows, samples, exported_at = [], [], now()
    for row in chosen:
        sample_id = hashlib.sha256(f"{seed}:{run_id}:{row['test_id']}".encode()).hexdigest()[:12]
        # Drawn per item from its own seed, not from the sample's stream: exporting the same run
        # again with another --n keeps each id's order, so labels from either file un-blind right.
        position = random.Random(f"{seed}:{run_id}:{row['test_id']}:position").choice((1, 2))
        first, second = (row["candidate"], row["reference"]) if position == 1 else (row["reference"],
                                                                                     row["candidate"])
        out_rows.append({"sample_id": sample_id, "question": row["question"] or "", "response_1": first,
                         "response_2": second, "label": "", "rater": "", "notes": ""})
        samples.append({"sample_id": sample_id, "run_id": run_id, "test_id": row["test_id"], "suite": row["suite"],
                        "item_id": row["item_id"], "candidate_position": position, "exported_at": exported_at})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = out_dir / f"human-run{run_id}.csv", out_dir / f"human-run{run_id}.jsonl"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(out_rows)
    with jsonl_path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in out_rows)
    add_human_samples(db, samples)
    return csv_path, jsonl_path, out_rows


def stratum_of(judgment: dict) -> str:
    """The judge's verdict for the candidate, or 'error' when it gave none readable."""
    return ERROR if judgment.get("error") is not None or judgment.get("outcome") is None else judgment["outcome"]


def allocate(sizes: dict, n: int) -> dict:
    """Proportional allocation of n over strata by largest remainder, at least one per stratum when n allows.

    Ties in the remainders go to the smaller key, so the allocation depends on nothing but the sizes.
    """
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    quota = {key: n * size / total for key, size in sizes.items()}
    counts = {key: math.floor(q) for key, q in quota.items()}
    for key in sorted(sizes, key=lambda k: (-(quota[k] - counts[k]), k))[:n - sum(counts.values())]:
        counts[key] += 1
    if n >= len(sizes):  # a stratum rounded to nothing borrows from the one most over its quota
        for empty in sorted(k for k in sizes if counts[k] == 0):
            donor = min((k for k in sizes if counts[k] > 1), key=lambda k: (-(counts[k] - quota[k]), k))
            counts[donor] -= 1
            counts[empty] += 1
    return counts


# ---------------------------------------------------------------- labels

class Label(NamedTuple):
    line: int
    sample_id: str
    label: Preference  # the response the rater preferred
    rater: str | None


class LabelRows(list):
    """The labelled rows of a file (Label tuples); `skipped` counts rows left without a label."""

    skipped: int = 0


def load_labels(path) -> LabelRows:
    """Labels from a CSV (header row) or JSONL file as exported; rows without a label are skipped and counted."""
    path = Path(path)
    if not path.is_file():
        raise HumanError(f"{path}: no such labels file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv(path)
    elif suffix == ".jsonl":
        records = _jsonl(path)
    else:
        raise HumanError(f"{path}: labels must be the exported .csv or .jsonl, not {path.suffix or 'no suffix'}")
    rows, seen = LabelRows(), {}
    for line, record in records:
        where = f"{path}:{line}"
        if not isinstance(record, dict):
            raise HumanError(f"{where}: expected an object with sample_id and label")
        if "sample_id" not in record:
            raise HumanError(f"{where}: no sample_id column (fields: {', '.join(map(str, record)) or 'none'})")
        if "label" not in record:
            raise HumanError(f"{where}: no label column (fields: {', '.join(map(str, record)) or 'none'})")
        raw = _text(record["label"])
        if not raw:
            rows.skipped += 1
            continue
        label = LABELS.get(raw.lower())
        if label is None:
            raise HumanError(f"{where}: label {raw!r} is not 1, 2 or tie (also accepted: A, B, C, 3)")
        sample_id = _text(record["sample_id"])
        if not sample_id:
            raise HumanError(f"{where}: label {raw!r} has no sample_id")
        rater = _text(record.get("rater")) or None
        if (sample_id, rater) in seen:
            raise HumanError(f"{where}: sample_id {sample_id} is labelled again (first at line "
                             f"{seen[sample_id, rater]})")
        seen[sample_id, rater] = line
        rows.append(Label(line, sample_id, label, rater))
    return rows


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _csv(path: Path):
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's saved CSV may carry a BOM
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise HumanError(f"{path}:1: empty file (expected the exported header row)")
        if "sample_id" not in reader.fieldnames:
            raise HumanError(f"{path}:1: no sample_id column in the header ({', '.join(reader.fieldnames)})")
        for record in reader:
            yield reader.line_num, record


def _jsonl(path: Path):
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise HumanError(f"{path}:{number}: invalid JSON: {exc.msg}") from None


# ---------------------------------------------------------------- import

@dataclass
class RunReport:
    """One run's human labels from a file, and how they compare with its judge's verdicts."""

    run_id: int
    n: int = 0
    counts: dict = field(default_factory=lambda: {"candidate": 0, "reference": 0, "tie": 0})
    win_rate: float | None = None  # the candidate's, ties half
    win_lo: float | None = None
    win_hi: float | None = None
    compared: int = 0  # items with a readable judge verdict
    judge_errors: int = 0
    judge_missing: int = 0  # judgment no longer in the DB (run pruned or re-judged away)
    agreement: float | None = None
    kappa: object = None  # stats Estimate, None when undefined (one label throughout) or nothing compared


@dataclass
class ImportReport:
    path: Path
    imported: int
    skipped: int
    runs: list[RunReport]


def import_labels(db, path, rater: str | None = None) -> ImportReport:
    """Record a labels file in human_labels (replacing an earlier import of it by the same rater) and report."""
    from ..results.judging import human_sample, judged, replace_human_labels
    from ..results.store import now
    from ..stats.agreement import cohen_kappa
    from ..stats.proportion import wilson

    db = getattr(db, "db", db)
    path = Path(path)
    labels = load_labels(path)
    if not labels:
        raise HumanError(f"{path}: no labelled rows ({labels.skipped} without a label)")
    samples = {}
    for item in labels:
        found = human_sample(db, item.sample_id)
        if found is None:
            raise HumanError(f"{path}:{item.line}: unknown sample_id {item.sample_id!r} (not exported from this "
                             "database)")
        if rater and item.rater and item.rater != rater:
            raise HumanError(f"{path}:{item.line}: rater column says {item.rater!r} but --rater says {rater!r}")
        samples[item.sample_id] = found
    source, imported_at = str(path.resolve()), now()
    rows = [{"sample_id": item.sample_id, "run_id": samples[item.sample_id]["run_id"],
             "label": side(item.label, samples[item.sample_id]["candidate_position"]),
             "rater": item.rater or rater, "source_file": source, "imported_at": imported_at} for item in labels]
    replace_human_labels(db, source, rows)

    reports = []
    for rid in sorted({row["run_id"] for row in rows}):
        report, pairs = RunReport(rid), []
        for row in (r for r in rows if r["run_id"] == rid):
            report.n += 1
            report.counts[row["label"]] += 1
            sample = samples[row["sample_id"]]
            judgment = judged(db, rid, sample["test_id"])
            if judgment is None:
                report.judge_missing += 1
            elif stratum_of(judgment) == ERROR:
                report.judge_errors += 1
            else:
                pairs.append((row["label"], JUDGE_SIDE[judgment["outcome"]]))
        wins = report.counts["candidate"] + 0.5 * report.counts["tie"]
        report.win_rate = wins / report.n
        report.win_lo, report.win_hi = wilson(wins, report.n)
        report.compared = len(pairs)
        if pairs:
            report.agreement = sum(h == j for h, j in pairs) / len(pairs)
            try:
                report.kappa = cohen_kappa([h for h, _ in pairs], [j for _, j in pairs])
            except ValueError:  # both gave one and the same label throughout: kappa is undefined
                report.kappa = None
        reports.append(report)
    return ImportReport(path, len(rows), labels.skipped, reports)


def side(label: str, candidate_position: int) -> str:
    """A position label ('1' / '2' / 'tie') -> 'candidate' / 'reference' / 'tie' given where the candidate sat."""
    if label == "tie":
        return "tie"
    return "candidate" if int(label) == int(candidate_position) else "reference"
