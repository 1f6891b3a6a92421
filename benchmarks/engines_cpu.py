"""The engines side by side, in one run: transformers and vLLM, raw and through the plugin, and lm-eval's vLLM.

Generation: the same GSM8K prompts (chat template, greedy, --max-tokens), each engine loaded once before any
timing, timed four ways:
  raw transformers   `model.generate` in batches of --batch-size (left-padded), what a script would do
  raw vLLM           one `vllm.LLM.generate` call on the plugin's own LLM (its dtype, threads and KV cache)
  plugin on each     pytest with a declared `modeleval.Generate` request, --eval-engine hf / vllm, cache off
Loglikelihood: the ready MMLU suite (5-shot, 4 requests an item) through the plugin on vLLM against lm-eval's
own vLLM backend (`simple_evaluate` with `lm_eval.models.vllm_causallms.VLLM`) on the same items, same dtype,
same threads; their accuracies must be equal.

Prints the ratios the issue sets targets for: plugin/raw on vLLM (>= 0.95), vLLM/transformers in generation
tokens per second (>= 4 on a 2-core CPU), lm-eval vLLM time / plugin vLLM time on loglikelihood (>= 1.2).
On a GPU machine every side runs on CUDA (scripts/gpu_checks.sh).

Run: .venv/bin/python benchmarks/engines_cpu.py [--items 256] [--max-tokens 128] [--mmlu-items 125]
Reads ../shared/data/gsm8k/test.jsonl and ../shared/data/mmlu beside the checkout (--data, --mmlu).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import timed_pytest  # noqa: E402
from mmlu_suite_vs_lmeval import MMLU, run_lm_eval, run_suite, subset  # noqa: E402
from throughput_gsm8k import GSM8K, PROMPT, run_raw, suite_source  # noqa: E402


def tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(text, add_special_tokens=False).input_ids) for text in texts)


def raw_vllm(engine, prompts: list[str], max_tokens: int) -> tuple[float, int]:
    """One LLM.generate call on text prompts; the time and the tokens generated."""
    params = engine.vllm.SamplingParams(temperature=0.0, max_tokens=max_tokens)
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, params, use_tqdm=False)
    return time.perf_counter() - start, sum(len(o.outputs[0].token_ids) for o in outputs)


def plugin(directory: Path, data: Path, items: int, max_tokens: int, batch_size: int, engine: str,
           dtype: str = "auto") -> tuple[float, int]:
    """pytest with a declared Generate request on one engine; its time and its recorded completion tokens."""
    import sqlite3

    test_file = directory / f"test_{engine}.py"
    test_file.write_text(suite_source(data, items, max_tokens, declared=True))
    elapsed = timed_pytest(test_file, "--model=embedded", f"--eval-engine={engine}", f"--eval-batch-size={batch_size}",
                           f"--eval-dtype={dtype}")
    with sqlite3.connect(directory / "results.sqlite") as db:
        (completion,) = db.execute("SELECT completion_tokens FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return elapsed, int(completion or 0)


def lmeval_vllm(engine):
    """lm-eval's vLLM model on the plugin's checkpoint, dtype, window and KV cache, every request in one call
    (batch_size auto, as lm-eval's docs advise for vLLM); threads: the same binding, set in this process's
    environment when the plugin's engine started."""
    from lm_eval.models.vllm_causallms import VLLM

    options = engine.options
    return VLLM(pretrained=options["model"], dtype=options["dtype"], enforce_eager=options["enforce_eager"],
                max_model_len=options["max_model_len"], seed=0, batch_size="auto",
                kv_cache_memory_bytes=options.get("kv_cache_memory_bytes"), enable_prefix_caching=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=GSM8K, help="GSM8K-format JSONL (question, answer)")
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="the transformers engine's batch size")
    parser.add_argument("--mmlu-items", type=int, default=125, help="MMLU questions (4 loglikelihood requests each)")
    parser.add_argument("--dtype", default="auto", help="vLLM's dtype on every vLLM side (--eval-dtype; default auto)")
    parser.add_argument("--only", choices=["all", "generation", "loglikelihood"], default="all")
    args = parser.parse_args()
    if not args.data.exists() or not MMLU.is_dir():
        sys.exit(f"missing {args.data} or {MMLU}: the benchmark reads GSM8K's test file and MMLU")
    from pytest_modeleval.config import Settings
    from pytest_modeleval.engines import hf, vllm
    from pytest_modeleval.items import load_items
    from pytest_modeleval.modelref import resolve

    embedded = resolve("embedded")
    ours_hf = hf.load(embedded, batch_size=args.batch_size)
    ours_vllm = vllm.load(embedded, Settings(engine="vllm", dtype=args.dtype))
    items, _ = load_items(str(args.data), suite="gsm8k", base_dir=Path("."), seed=1, sample=args.items)
    prompts = [ours_vllm.render(PROMPT.format(**item.fields), chat=True) for item in items]
    generation: dict = {}
    scoring = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in ("all", "generation"):
            generation = {
                "raw transformers": (run_raw(ours_hf, prompts, args.batch_size, args.max_tokens), 0),
                "plugin on transformers": plugin(work, args.data, len(prompts), args.max_tokens, args.batch_size,
                                                 "hf"),
            }
            # vLLM's engine process starts only now, outside every timing (it polls a core for 1 s after a call)
            raw_vllm(ours_vllm, prompts[:4], 8)
            generation["raw vLLM"] = raw_vllm(ours_vllm, prompts, args.max_tokens)
            generation["plugin on vLLM"] = plugin(work, args.data, len(prompts), args.max_tokens, args.batch_size,
                                                  "vllm", args.dtype)
            # the same engine's greedy text, so the same tokens: counted from the plugin run's record
            generation["raw transformers"] = (generation["raw transformers"][0],
                                              generation["plugin on transformers"][1])
        if args.only in ("all", "loglikelihood"):
            data = subset(args.mmlu_items, work / "data")
            theirs = run_lm_eval(lmeval_vllm(ours_vllm), data)
            ours = run_suite(data, args.batch_size, work, engine="vllm", dtype=args.dtype)
            scoring = theirs, ours

    setup = ours_vllm.setup
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "vllm": ours_vllm.info.version,
                      "vllm_setup": setup.describe(), "transformers_dtype": ours_hf.info.dtype,
                      "items": len(prompts), "max_tokens": args.max_tokens, "batch_size": args.batch_size,
                      "mmlu_items": args.mmlu_items}))
    if generation:
        report_generation(generation, len(prompts), args.max_tokens)
    if scoring:
        (theirs_time, theirs_acc), (ours_time, ours_acc) = scoring
        print(f"loglikelihood: MMLU 5-shot, {args.mmlu_items} items x 4 choices, vLLM {setup.dtype}")
        print(f"  lm-eval on vLLM          {theirs_time:8.1f} s  accuracy {theirs_acc:.4f}")
        print(f"  plugin on vLLM           {ours_time:8.1f} s  accuracy {ours_acc:.4f}")
        print(f"  lm-eval/plugin (time)    = {theirs_time / ours_time:.2f}  (target >= 1.2)")
        if abs(theirs_acc - ours_acc) > 1e-12:
            sys.exit("accuracies differ between lm-eval's vLLM and the plugin's")


def report_generation(generation: dict, items: int, max_tokens: int) -> None:
    print(f"generation: {items} GSM8K prompts x up to {max_tokens} greedy tokens")
    for name, (seconds, generated) in generation.items():
        print(f"  {name:24s} {seconds:8.1f} s  {generated:6d} tokens  {generated / seconds:7.1f} tokens/s")
    rate = {name: generated / seconds for name, (seconds, generated) in generation.items()}
    print(f"  plugin/raw on vLLM (throughput)          = {generation['raw vLLM'][0] / generation['plugin on vLLM'][0]:.2f}"
          "  (target >= 0.95)")
    print(f"  plugin/raw on transformers (throughput)  = "
          f"{generation['raw transformers'][0] / generation['plugin on transformers'][0]:.2f}")
    print(f"  vLLM/transformers, plugin tokens/s       = {rate['plugin on vLLM'] / rate['plugin on transformers']:.2f}"
          "  (target >= 4)")


if __name__ == "__main__":
    main()
