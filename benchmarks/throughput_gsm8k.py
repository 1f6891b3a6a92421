"""Cold generation throughput: a GSM8K suite through pytest vs the engine run directly.

Three timings on the same 64 GSM8K prompts (chat template, greedy, max_tokens 64), batch size 16,
with the model loaded once beforehand so no timing includes it:
  raw        transformers `model.generate` in batches of 16, in file order (what a script would do)
  planned    pytest with a declared `modeleval.Generate` request (plan-then-run), cache off
  per-test   pytest with `model.generate` called inside each test (one request per test), cache off
and prints planned/raw (target >= 0.9 as a throughput ratio) and per-test/planned (target >= 4).

Run: .venv/bin/python benchmarks/throughput_gsm8k.py [--items 64] [--max-tokens 64]
Reads ../shared/data/gsm8k/test.jsonl (the project's reference data) beside the checkout, or --data FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import timed_pytest

ROOT = Path(__file__).resolve().parents[1]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"  # the default --data
PROMPT = "{question}\nAnswer with just the final number."


def suite_source(data: Path, items: int, max_tokens: int, declared: bool) -> str:
    if declared:
        body = f"""
            @modeleval.suite("gsm8k", data={str(data)!r}, sample={items}, seed=1, chat=True,
                             request=modeleval.Generate(PROMPT, max_tokens={max_tokens}))
            def test_gsm8k(item, completion):
                assert completion is not None
            """
    else:
        body = f"""
            @modeleval.suite("gsm8k", data={str(data)!r}, sample={items}, seed=1, chat=True)
            def test_gsm8k(item, model):
                assert model.generate(PROMPT.format(**item.fields), max_tokens={max_tokens}) is not None
            """
    return "import pytest_modeleval as modeleval\nPROMPT = " + repr(PROMPT) + "\n" + textwrap.dedent(body)


def run_pytest(directory: Path, source: str, batch_size: int, name: str) -> float:
    test_file = directory / f"test_{name}.py"
    test_file.write_text(source)
    return timed_pytest(test_file, "--model=embedded", f"--eval-batch-size={batch_size}")


def run_raw(engine, prompts: list[str], batch_size: int, max_tokens: int) -> float:
    import torch

    tokenizer, model = engine.tokenizer, engine.model
    tokenizer.padding_side = "left"
    start = time.perf_counter()
    for offset in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[offset:offset + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            model.generate(**batch, max_new_tokens=max_tokens, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=GSM8K, help="GSM8K-format JSONL (question, answer)")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"missing {args.data}: the benchmark reads GSM8K's test file (--data)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pytest_modeleval.engines import hf
    from pytest_modeleval.items import load_items
    from pytest_modeleval.modelref import resolve

    engine = hf.load(resolve("embedded"), batch_size=args.batch_size)  # load once, outside every timing
    items, _ = load_items(str(args.data), suite="gsm8k", base_dir=ROOT, seed=1, sample=args.items)
    prompts = [engine.render(PROMPT.format(**item.fields), chat=True) for item in items]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = run_raw(engine, prompts, args.batch_size, args.max_tokens)
        planned = run_pytest(tmp, suite_source(args.data, args.items, args.max_tokens, declared=True), args.batch_size, "planned")
        per_test = run_pytest(tmp, suite_source(args.data, args.items, args.max_tokens, declared=False), args.batch_size, "per_test")
    print(json.dumps({"device": engine.device, "dtype": engine.info.dtype, "items": args.items, "max_tokens": args.max_tokens, "batch_size": args.batch_size}))
    print(f"raw batched generate : {raw:7.2f} s")
    print(f"pytest, planned      : {planned:7.2f} s")
    print(f"pytest, per-test     : {per_test:7.2f} s")
    print(f"throughput planned/raw      = {raw / planned:.2f}  (target >= 0.9)")
    print(f"speed-up planned vs per-test = {per_test / planned:.2f}x (target >= 4)")


if __name__ == "__main__":
    main()
