"""Loglikelihood scoring: our transformers engine vs lm-evaluation-harness's HFLM.

The same requests, lm-eval's zero-shot MMLU prompts (200 items x 4 choices " A".." D", taken
round-robin over the subjects in ../shared/data/mmlu/test/*.csv), on the same converted
embedded model, float32, the same batch size. Models are loaded before timing; the two are
timed alternately and the best of --repeat runs is kept. Prints both times, the ratio
lm-eval / ours (>= 1.0: ours is not slower) and the largest per-request logprob difference.

Run: .venv/bin/python benchmarks/loglikelihood_vs_lmeval.py [--items 200] [--batch-size 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from itertools import islice, zip_longest
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pytest_modeleval.engines import hf, lmeval  # noqa: E402
from pytest_modeleval.engines.base import EngineError, LoglikelihoodRequest  # noqa: E402
from pytest_modeleval.engines.gguf import ensure_converted  # noqa: E402
from pytest_modeleval.modelref import resolve  # noqa: E402

MMLU = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mmlu" / "test"
LETTERS = "ABCD"


def mmlu_prompts(count: int) -> list[str]:
    """lm-eval's MMLU prompt (description, question, lettered choices, 'Answer:'), round-robin over subjects."""
    files = sorted(MMLU.glob("*_test.csv"))
    if not files:
        sys.exit(f"no MMLU data in {MMLU}")
    per_subject = [[(f.name.removesuffix("_test.csv"), row) for row in csv.DictReader(f.open(encoding="utf-8"))]
                   for f in files]
    rows = (row for group in zip_longest(*per_subject) for row in group if row is not None)
    return [_prompt(subject, row) for subject, row in islice(rows, count)]


def _prompt(subject: str, row: dict) -> str:
    description = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    choices = "".join(f"\n{letter}. {row[f'choice{i}']}" for i, letter in enumerate(LETTERS))
    return f"{description}{row['question'].strip()}{choices}\nAnswer:"


def timed(score) -> tuple[float, list]:
    start = time.perf_counter()
    result = score()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    try:
        lmeval.import_lmeval()
    except EngineError as exc:
        sys.exit(f"loglikelihood_vs_lmeval: {exc}")

    embedded = resolve("embedded")
    model_dir = ensure_converted(embedded.path, embedded.sha256)
    requests = [LoglikelihoodRequest(prompt, f" {letter}") for prompt in mmlu_prompts(options.items)
                for letter in LETTERS]

    ours = hf.load(embedded, batch_size=options.batch_size, device="cpu")
    theirs = lmeval.build_lm("hf", f"pretrained={model_dir},dtype=float32", options.batch_size, "cpu")
    from lm_eval.api.instance import Instance

    instances = [Instance("loglikelihood", {}, (r.context, r.continuation), 0) for r in requests]

    ours_times, theirs_times = [], []
    for _ in range(options.repeat):
        seconds, ours_scores = timed(lambda: ours.loglikelihood(requests))
        ours_times.append(seconds)
        seconds, theirs_scores = timed(lambda: theirs.loglikelihood(instances, disable_tqdm=True))
        theirs_times.append(seconds)

    a, b = min(ours_times), min(theirs_times)
    diff = max(abs(x.logprob - y[0]) for x, y in zip(ours_scores, theirs_scores))
    greedy_same = sum(x.is_greedy == bool(y[1]) for x, y in zip(ours_scores, theirs_scores))
    print(f"{len(requests)} loglikelihood requests ({options.items} MMLU items x 4), batch size {options.batch_size}, "
          f"best of {options.repeat}, {os.cpu_count()} CPUs")
    print(f"ours (engines.hf): {a:7.2f} s   lm-eval HFLM: {b:7.2f} s   lm-eval / ours: {b / a:.2f}")
    print(f"max |logprob ours - lm-eval| = {diff:.2e}; is_greedy equal on {greedy_same}/{len(requests)}")


if __name__ == "__main__":
    main()
