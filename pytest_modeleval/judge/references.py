"""Reference answers kept in their own file, joined to a judged suite's items by a key field.

    refs = modeleval.reference_file("data/gpt4_answers.jsonl", key="question_id", answer="answer")
    request=modeleval.Pairwise("{question}", reference=refs)

The file is read with the suite loader (JSONL, JSON, CSV, .gz; errors name FILE:LINE) on first
use, relative to the test module that calls this, as `data=` is.
"""

from __future__ import annotations

import inspect
from pathlib import Path


class ReferenceFile:
    """A callable template: item -> its reference answer, looked up by the item's `key` field."""

    def __init__(self, path: str, key: str, answer: str, base_dir: Path):
        self.path, self.key, self.answer, self.base_dir = path, key, answer, base_dir
        self._answers: dict[str, str] | None = None

    def __call__(self, item) -> str:
        answers = self._load()
        value = item[self.key] if self.key in item.fields else None
        if value is None:
            raise KeyError(f"reference file {self.path}: item {item.id} has no {self.key!r} field to look it up by")
        if str(value) not in answers:
            raise KeyError(f"reference file {self.path}: no row with {self.key} = {value!r} (item {item.id})")
        return answers[str(value)]

    def _load(self) -> dict[str, str]:
        if self._answers is None:
            from ..items import DataError, load_rows

            rows, source = load_rows(self.path, base_dir=self.base_dir)
            answers = {}
            for number, row in enumerate(rows, 1):
                if self.key not in row or self.answer not in row:
                    missing = self.key if self.key not in row else self.answer
                    raise DataError(f"{source.description}: row {number} has no {missing!r} field")
                answers[str(row[self.key])] = str(row[self.answer])
            self._answers = answers
        return self._answers


def reference_file(path: str, *, key: str = "id", answer: str = "answer") -> ReferenceFile:
    """Reference answers from a file, matched to items by `key`; a path relative to the calling module."""
    caller = Path(inspect.stack()[1].filename).resolve().parent
    return ReferenceFile(str(path), key, answer, caller)
