"""How well a judge agrees with people: `modeleval judge validate`'s figures on the human-labelled pairs.

Runs the judge over LLMBar (Natural, Adversarial/Neighbor) and the MT-Bench human judgments in
../shared/data/llmbar, with the suite's default template (direct by default: the embedded 135M
model cannot reason its way to a verdict within a CPU budget), and prints per file: pairs,
agreement, Cohen's kappa with its interval, unreadable verdicts, position bias, and seconds.
The cache and DB are temporary: nothing is reused from an earlier run.

Run: .venv/bin/python benchmarks/judge_validation.py [--judge embedded] [--reasoning] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pytest_modeleval.config import Settings  # noqa: E402
from pytest_modeleval.judge.validate import validate  # noqa: E402

LLMBAR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "llmbar"
SETS = ("Natural", "Adversarial/Neighbor", "MT-Bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="embedded")
    parser.add_argument("--reasoning", action="store_true", help="the default reasoning template (slow on CPU)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(Settings(), cache_db=Path(tmp) / "cache.sqlite", db=Path(tmp) / "r.sqlite",
                                       batch_size=args.batch_size)
        print(f"judge {args.judge}, template: {'reasoning' if args.reasoning else 'direct'}, greedy, retries 2")
        print("| set | pairs | agreement | Cohen's kappa (95% CI) | unreadable | first answer won | seconds |")
        print("|---|---|---|---|---|---|---|")
        for name in SETS:
            start = time.perf_counter()
            v, _ = validate(args.judge, LLMBAR / name / "dataset.json", settings, reasoning=args.reasoning,
                            limit=args.limit, max_tokens=512 if args.reasoning else 8)
            kappa = "undefined" if v.kappa is None else f"{v.kappa:.3f} ({v.kappa_lo:.3f} to {v.kappa_hi:.3f})"
            first = "-" if v.first_slot_rate is None else f"{100 * v.first_slot_rate:.1f}%"
            print(f"| llmbar/{name} | {v.n} | {100 * v.agreement:.1f}% | {kappa} | {v.n_errors} | {first} | "
                  f"{time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    main()
