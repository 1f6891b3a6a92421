"""Readers for the classic benchmarks' published file formats, giving rows in the shape of their
Hugging Face datasets (which is also the shape lm-eval's task definitions read).

MMLU: a directory holding `test/` and `dev/` with `<subject>_<split>.csv` files, either as
published (no header; question, four choices, answer letter) or with a header
`question,choice0,choice1,choice2,choice3,answer` (answer = index). GSM8K and HumanEval
are JSONL as published (HumanEval gzipped or not).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from ..items import DataError

LETTERS = "ABCD"


def mmlu_subjects(root: Path) -> list[str]:
    """Subjects present under root/test, sorted (the order lm-eval's mmlu group lists them in)."""
    files = sorted((Path(root) / "test").glob("*_test.csv"))
    if not files:
        raise DataError(f"{root}: no MMLU test files (expected {Path(root) / 'test'}/<subject>_test.csv)")
    return [f.name[: -len("_test.csv")] for f in files]


def mmlu_rows(root: Path, subject: str, split: str) -> list[dict]:
    """One subject's split as cais/mmlu rows: question, subject, choices (4), answer (index)."""
    path = Path(root) / split / f"{subject}_{split}.csv"
    if not path.is_file():
        raise DataError(f"{path}: MMLU file not found (subject {subject!r}, split {split!r})")
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line_no, record in enumerate(csv.reader(handle), start=1):
            if line_no == 1 and record[:1] == ["question"]:
                continue  # the header of the indexed variant
            if len(record) != 6:
                raise DataError(f"{path}:{line_no}: expected 6 columns (question, 4 choices, answer), got {len(record)}")
            answer = record[5].strip()
            index = LETTERS.index(answer) if answer in LETTERS else _index(answer, path, line_no)
            rows.append({"question": record[0], "subject": subject, "choices": record[1:5], "answer": index})
    return rows


def _index(text: str, path: Path, line_no: int) -> int:
    if text.isdigit() and int(text) < 4:
        return int(text)
    raise DataError(f"{path}:{line_no}: answer {text!r} is neither A-D nor 0-3")


def jsonl_rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    """A JSONL file (optionally .gz) whose every row has the required fields."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: invalid JSON: {exc.msg}") from None
            missing = [name for name in required if name not in row]
            if missing:
                raise DataError(f"{path}:{line_no}: missing field(s) {', '.join(missing)}")
            rows.append(row)
    return rows
