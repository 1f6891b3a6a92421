"""Where the ready suites read their data: files under --eval-data-dir, else the HF datasets.

Layout under --eval-data-dir (the benchmarks' published formats):

    mmlu/dev/<subject>_dev.csv, mmlu/test/<subject>_test.csv
    gsm8k/test.jsonl
    humaneval/HumanEval.jsonl.gz

Without it, the same rows come from the local HF cache (cais/mmlu, openai/gsm8k,
openai/openai_humaneval); CI machines are often offline, so nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..items import DataError
from . import formats

_data_dir: Path | None = None  # set by the plugin from --eval-data-dir when a session starts


def set_data_dir(path: Path | None) -> None:
    global _data_dir
    _data_dir = Path(path) if path is not None else None
    _mmlu_split.cache_clear()


def local(name: str) -> Path | None:
    """The benchmark's directory under --eval-data-dir, or None to read the HF dataset."""
    if _data_dir is None:
        return None
    path = _data_dir / name
    if not path.exists():
        raise DataError(f"--eval-data-dir {_data_dir}: no {name}/ in it (expected the layout in "
                        "pytest_modeleval/suites/sources.py)")
    return path


def hf_rows(name: str, config: str | None, split: str) -> list[dict]:
    from ..items import load_rows

    spec = f"hf:{name}{':' + config if config else ''}@{split}"
    try:
        return load_rows(spec, base_dir=Path("."))[0]
    except DataError as exc:
        raise DataError(f"{exc}; or pass --eval-data-dir DIR with the published files") from None


@lru_cache(maxsize=None)
def _mmlu_split(split: str) -> tuple[dict, ...]:
    root = local("mmlu")
    if root is None:
        return tuple(hf_rows("cais/mmlu", "all", split))
    return tuple(row for subject in formats.mmlu_subjects(root) for row in formats.mmlu_rows(root, subject, split))


def mmlu_test() -> list[dict]:
    """Every subject's test questions, subjects in alphabetical order, each row keyed `<subject>-<n>`."""
    rows, seen = [], {}
    for row in _mmlu_split("test"):
        n = seen[row["subject"]] = seen.get(row["subject"], -1) + 1
        rows.append({**row, "key": f"{row['subject']}-{n:04d}"})
    return rows


def mmlu_dev(subject: str) -> list[dict]:
    return [row for row in _mmlu_split("dev") if row["subject"] == subject]


def gsm8k_test() -> list[dict]:
    root = local("gsm8k")
    if root is None:
        return hf_rows("openai/gsm8k", "main", "test")
    return formats.jsonl_rows(root / "test.jsonl", ("question", "answer"))


def humaneval_test() -> list[dict]:
    root = local("humaneval")
    if root is None:
        return hf_rows("openai/openai_humaneval", None, "test")
    return formats.jsonl_rows(root / "HumanEval.jsonl.gz", ("task_id", "prompt", "test", "entry_point"))
