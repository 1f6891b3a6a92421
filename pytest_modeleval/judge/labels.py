"""Human-labelled pairs for judge validation: JSON (a list), JSONL or CSV, in the common field spellings.

LLMBar and the MT-Bench human judgments use `input, output_1, output_2, label` with label 1 or
2; other sets say `question` / `prompt`, `response_a` / `response_b`, `winner`. A label is the
answer the people preferred: 1 (or A), 2 (or B), or tie (or C, 3, 0). Every problem names the
file and the line (JSONL, CSV) or the list position (JSON).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Preference = Literal["1", "2", "tie"]  # which response a person preferred

QUESTION_FIELDS = ("input", "question", "instruction", "prompt")
FIRST_FIELDS = ("output_1", "response_a", "answer_a", "output_a", "response_1")
SECOND_FIELDS = ("output_2", "response_b", "answer_b", "output_b", "response_2")
LABEL_FIELDS = ("label", "human_label", "winner", "preference")
LABELS = {"1": "1", "a": "1", "model_a": "1", "2": "2", "b": "2", "model_b": "2",
          "tie": "tie", "c": "tie", "3": "tie", "0": "tie"}


class LabelsError(ValueError):
    """A labels file that cannot be read; the message names FILE:LINE and the field."""


@dataclass(frozen=True)
class LabelledPair:
    where: str  # FILE:LINE
    question: str
    first: str
    second: str
    label: Preference


def load(path: Path) -> list[LabelledPair]:
    path = Path(path)
    if not path.is_file():
        raise LabelsError(f"{path}: no such labels file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        records = _jsonl(path)
    elif suffix == ".json":
        records = _json(path)
    elif suffix == ".csv":
        records = _csv(path)
    else:
        raise LabelsError(f"{path}: labels must be .json (a list), .jsonl or .csv, not {path.suffix or 'no suffix'}")
    pairs = [_pair(where, record) for where, record in records]
    if not pairs:
        raise LabelsError(f"{path}: no labelled pairs")
    return pairs


def _pair(where: str, record) -> LabelledPair:
    if not isinstance(record, dict):
        raise LabelsError(f"{where}: expected an object with a question, two answers and a label")
    question, first, second = (_field(where, record, names) for names in (QUESTION_FIELDS, FIRST_FIELDS,
                                                                          SECOND_FIELDS))
    raw = _field(where, record, LABEL_FIELDS)
    label = LABELS.get(str(raw).strip().lower())
    if label is None:
        raise LabelsError(f"{where}: label {raw!r} is not 1, 2 or tie (also accepted: A, B, C, 3, 0)")
    return LabelledPair(where, str(question), str(first), str(second), label)


def _field(where: str, record: dict, names: tuple[str, ...]):
    for name in names:
        if name in record and record[name] is not None and str(record[name]) != "":
            return record[name]
    raise LabelsError(f"{where}: no {' / '.join(names)} field (fields: {', '.join(record) or 'none'})")


def _jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelsError(f"{path}:{number}: invalid JSON: {exc.msg}") from None


def _json(path: Path):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabelsError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise LabelsError(f"{path}: a .json labels file must hold a list of pairs")
    for index, record in enumerate(data):
        yield f"{path}: item {index}", record


def _csv(path: Path):
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for record in reader:
            yield f"{path}:{reader.line_num}", record
