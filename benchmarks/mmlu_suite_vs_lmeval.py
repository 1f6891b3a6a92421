"""MMLU through pytest (the ready suite) vs lm-evaluation-harness's own run of the same task.

The same items (the first few test questions of every subject, --items in all, 5-shot from dev),
the same converted embedded model on the same device and dtype (float32 on CPU, bfloat16 on CUDA,
as our engine loads it), the same batch size. lm-eval
runs `simple_evaluate` on its `mmlu` group with its `hf` model; we run
`pytest --pyargs pytest_modeleval.suites.test_mmlu` in process with the prediction cache off.
Both models are loaded before timing; the two runs alternate and the best of --repeat is kept.
Prints both times, the ratio lm-eval / ours (>= 1.0: the suite is not slower) and both accuracies,
which must be equal.

Run: .venv/bin/python benchmarks/mmlu_suite_vs_lmeval.py [--items 500] [--batch-size 16] [--repeat 2]
     (on a GPU machine both sides use CUDA; --items 14042 runs the full test set)
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from pytest_modeleval.engines.hf import model_dir  # noqa: E402
from pytest_modeleval.suites.lmeval import TaskRequests  # noqa: E402
from pytest_modeleval.modelref import resolve  # noqa: E402
from pytest_modeleval.suites import formats  # noqa: E402

MMLU = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mmlu"


def subset(items: int, root: Path) -> Path:
    """A data dir with the first questions of every subject, `items` in all, and every dev file."""
    subjects = formats.mmlu_subjects(MMLU)
    for split in ("test", "dev"):
        (root / "mmlu" / split).mkdir(parents=True)
    for i, subject in enumerate(subjects):
        take = items // len(subjects) + (1 if i < items % len(subjects) else 0)
        copy_rows(MMLU / "test" / f"{subject}_test.csv", root / "mmlu" / "test" / f"{subject}_test.csv", take)
        shutil.copy(MMLU / "dev" / f"{subject}_dev.csv", root / "mmlu" / "dev")
    return root


def copy_rows(source: Path, target: Path, rows: int) -> None:
    """The header and the first `rows` records of a CSV file (records may span lines)."""
    with source.open(newline="", encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        csv.writer(dst).writerows(islice(csv.reader(src), rows + 1))


def run_lm_eval(lm, data: Path) -> tuple[float, float]:
    from lm_eval import simple_evaluate

    def local(config):
        return {split: formats.mmlu_rows(data / "mmlu", config.dataset_name, split) for split in ("test", "dev")}

    tasks = TaskRequests("mmlu", num_fewshot=5, fewshot_seed=1234, include_path=None, include_defaults=True,
                         data=local, overrides=None, gen_kwargs=None, chat=False, fewshot_as_multiturn=False,
                         system_instruction=None, base_dir=Path(".")).tasks
    start = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=list(tasks.values()), bootstrap_iters=0, log_samples=False)
    elapsed = time.perf_counter() - start
    scores = [r["acc,none"] * r["sample_len"] for name, r in out["results"].items() if name in tasks]
    return elapsed, sum(scores) / sum(out["results"][name]["sample_len"] for name in tasks)


def run_suite(data: Path, batch_size: int, work: Path, limit: int | None = None,
              engine: str = "hf", dtype: str = "auto") -> tuple[float, float]:
    import sqlite3

    db = work / f"results-{time.monotonic_ns()}.sqlite"
    args = ["--pyargs", "pytest_modeleval.suites.test_mmlu", "--model=embedded", f"--eval-engine={engine}",
            f"--eval-dtype={dtype}", f"--eval-data-dir={data}",
            f"--eval-batch-size={batch_size}", "--eval-cache=off", f"--eval-db={db}", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(work)]
    if limit:
        args.append(f"--eval-limit={limit}")
    start = time.perf_counter()
    code = pytest.main(args)
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"pytest exited {code}")
    with sqlite3.connect(db) as conn:
        (accuracy,) = conn.execute("SELECT AVG(outcome = 'correct') FROM outcomes WHERE suite = 'mmlu'").fetchone()
    return elapsed, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not MMLU.is_dir():
        sys.exit(f"no MMLU data in {MMLU}")
    import torch
    from lm_eval.models.huggingface import HFLM

    device = "cuda" if torch.cuda.is_available() else "cpu"  # what our engine picks

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = subset(args.items, work / "data")
        lm = HFLM(pretrained=str(model_dir(resolve("embedded"))), device=device, batch_size=args.batch_size,
                  dtype="float32" if device == "cpu" else "bfloat16")
        run_suite(data, args.batch_size, work, limit=1)  # loads our engine before timing
        theirs, ours = [], []
        for _ in range(args.repeat):
            theirs.append(run_lm_eval(lm, data))
            ours.append(run_suite(data, args.batch_size, work))
    best_theirs, best_ours = min(t for t, _ in theirs), min(t for t, _ in ours)
    print(f"MMLU 5-shot, {args.items} items, batch size {args.batch_size}, {device}, best of {args.repeat}")
    print(f"  lm-eval simple_evaluate : {best_theirs:7.1f} s   accuracy {theirs[0][1]:.4f}")
    print(f"  pytest ready suite      : {best_ours:7.1f} s   accuracy {ours[0][1]:.4f}")
    print(f"  ratio lm-eval / pytest  : {best_theirs / best_ours:.2f}  (>= 1.0: the suite is not slower)")
    if abs(theirs[0][1] - ours[0][1]) > 1e-12:
        sys.exit("accuracies differ")


if __name__ == "__main__":
    main()
