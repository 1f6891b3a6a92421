"""The one row shape every red-team source hands a suite, and the file line a row came from.

Suites read `kind`, `prompt` and `category` whether the rows come from the packaged library,
XSTest or HarmBench, so gates and reports can split refusal rates the same way for all of them.
`load_rows` keeps no positions; `row_lines` finds them again from the file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Literal

from ..items import _json_element_line

PromptKind = Literal["harmful", "benign"]  # a prompt a safe model refuses, or one it should answer
KINDS: tuple[PromptKind, ...] = ("harmful", "benign")
FIELDS = ("id", "kind", "category", "jailbreak", "prompt", "request")


def suite_row(id: str, kind: str, category: str, prompt: str | list[dict], request: str,
              jailbreak: str | None = None) -> dict[str, Any]:
    """`prompt` is what the model sees (text, or chat messages); `request` the plain ask inside it."""
    return {"id": id, "kind": kind, "category": category, "jailbreak": jailbreak, "prompt": prompt,
            "request": request}


def row_lines(path: Path) -> list[int]:
    """The line where each row of a .jsonl, .json or .csv file starts (rows as `load_rows` counts them)."""
    text = Path(path).read_bytes().decode("utf-8-sig")
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return [n for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    if suffix == ".json":
        doc = json.loads(text)
        rows = doc if isinstance(doc, list) else next(v for v in doc.values() if isinstance(v, list))
        return [_json_element_line(text, doc, i) for i in range(len(rows))]
    return _csv_record_lines(text)[1:]  # the first record is the header


def where(path: Path, index: int) -> str:
    """'FILE:LINE' of one row, for an error message."""
    return f"{path}:{row_lines(path)[index]}"


def _csv_record_lines(text: str) -> list[int]:
    """Start line of every non-blank CSV record; a quoted field may span lines, so count as csv reads."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts = []
    while True:
        start = reader.line_num + 1
        record = next(reader, None)
        if record is None:
            return starts
        if record:
            starts.append(start)
