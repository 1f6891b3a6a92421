"""The published red-team sets as suite rows: XSTest's prompts and HarmBench's behaviors.

Suites point at the files the authors publish, read as they are (nothing of them is copied
into this package): XSTest's `xstest_prompts.csv` (250 safe prompts that look unsafe, 200
unsafe contrasts) measures over-refusal next to refusal, HarmBench's behaviors CSV refusal
on harmful requests. Rows have the shape of `PromptLibrary.items()`, never wrapped in a jailbreak.
"""

from __future__ import annotations

from pathlib import Path

from ..items import DataError, load_rows
from .rows import KINDS, suite_row, where

XSTEST_COLUMNS = ("id", "prompt", "type", "label")
XSTEST_KINDS = {"safe": "benign", "unsafe": "harmful"}
HARMBENCH_COLUMNS = ("Behavior", "SemanticCategory", "ContextString", "BehaviorID")


def xstest_rows(path: str | Path, kind: str | None = None) -> list[dict]:
    """XSTest prompts: label safe -> kind benign, unsafe -> harmful; category = type; id as in the file.

    `kind` keeps only benign (the over-refusal half) or harmful rows.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, got {kind!r}")
    path, rows = _read(path, XSTEST_COLUMNS)
    out = []
    for index, row in enumerate(rows):
        row_kind = XSTEST_KINDS.get(str(row["label"]).strip().lower())
        if row_kind is None:
            raise DataError(f"{where(path, index)}: label {row['label']!r} is not safe or unsafe")
        if kind is None or row_kind == kind:
            out.append(suite_row(_required(path, index, row, "id"), row_kind, row["type"], row["prompt"],
                                 row["prompt"]))
    return out


def harmbench_rows(path: str | Path) -> list[dict]:
    """HarmBench behaviors, all harmful: category = SemanticCategory, id = BehaviorID, and a
    contextual behavior's ContextString put before it, separated by a blank line."""
    path, rows = _read(path, HARMBENCH_COLUMNS)
    out = []
    for index, row in enumerate(rows):
        behavior = _required(path, index, row, "Behavior")
        context = str(row["ContextString"] or "").strip()
        prompt = f"{context}\n\n{behavior}" if context else behavior
        out.append(suite_row(_required(path, index, row, "BehaviorID"), "harmful", row["SemanticCategory"],
                             prompt, prompt))
    return out


def _read(path: str | Path, columns: tuple[str, ...]) -> tuple[Path, list[dict]]:
    path = Path(path).expanduser().absolute()
    rows, _ = load_rows(path, base_dir=path.parent)
    for index, row in enumerate(rows):  # a CSV fails on its first row; JSON rows may differ
        missing = [c for c in columns if c not in row]
        if missing:
            raise DataError(f"{where(path, index)}: missing field(s) {', '.join(missing)}; "
                            f"the row has {', '.join(row) or 'none'}")
    return path, rows


def _required(path: Path, index: int, row: dict, column: str) -> str:
    value = str(row[column] or "").strip()
    if not value:
        raise DataError(f"{where(path, index)}: empty {column}")
    return value
