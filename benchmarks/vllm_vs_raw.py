"""Generation through the plugin's vLLM engine vs raw `vllm.LLM.generate`, on a CUDA GPU.

The same GSM8K prompts (chat template, greedy, --max-tokens), timed two ways on one `vllm.LLM`,
loaded once beforehand so neither timing includes the load:
  raw      `llm.generate(prompts, SamplingParams(temperature=0, max_tokens=N))`, one call
  plugin   pytest with a declared `modeleval.Generate` request, --eval-engine=vllm, cache off,
           --eval-batch-size=--batch-size (each batch is one `LLM.generate` call)
and prints plugin/raw as a throughput ratio (raw time / plugin time; 1.0 = no overhead).

Run on a GPU machine with vLLM installed (pip install 'pytest-modeleval[vllm]'):
  .venv/bin/python benchmarks/vllm_vs_raw.py [--model embedded] [--items 1024] [--max-tokens 256]
Reads ../shared/data/gsm8k/test.jsonl (the project's reference data) beside the checkout, or --data FILE.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def require_gpu_and_vllm(data: Path) -> None:
    """Exit with a clear message where the benchmark cannot run."""
    if importlib.util.find_spec("vllm") is None:
        sys.exit("vllm_vs_raw: vLLM is not installed (pip install 'pytest-modeleval[vllm]'); "
                 "run this benchmark on a CUDA machine")
    import torch

    if not torch.cuda.is_available():
        sys.exit("vllm_vs_raw: no CUDA GPU is visible (torch.cuda.is_available() is False); vLLM needs one")
    if not data.exists():
        sys.exit(f"vllm_vs_raw: missing {data}: the benchmark reads GSM8K's test file (--data)")


def suite_source(data: Path, items: int, max_tokens: int) -> str:
    body = f"""
        @modeleval.suite("gsm8k", data={str(data)!r}, sample={items}, seed=1, chat=True,
                         request=modeleval.Generate(PROMPT, max_tokens={max_tokens}))
        def test_gsm8k(item, completion):
            assert completion is not None
        """
    return "import pytest_modeleval as modeleval\nPROMPT = " + repr(PROMPT) + "\n" + textwrap.dedent(body)


def run_plugin(directory: Path, data: Path, model: str, items: int, max_tokens: int, batch_size: int, tp: int) -> float:
    test_file = directory / "test_bench.py"
    test_file.write_text(suite_source(data, items, max_tokens))
    return timed_pytest(test_file, f"--model={model}", "--eval-engine=vllm", f"--eval-tensor-parallel={tp}",
                        f"--eval-batch-size={batch_size}")


def run_raw(engine, prompts: list[str], max_tokens: int) -> float:
    params = engine.vllm.SamplingParams(temperature=0.0, max_tokens=max_tokens)
    start = time.perf_counter()
    engine.llm.generate(prompts, params, use_tqdm=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", type=Path, default=GSM8K, help="GSM8K-format JSONL (question, answer)")
    parser.add_argument("--items", type=int, default=1024)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--tensor-parallel", type=int, default=1)
    args = parser.parse_args()
    require_gpu_and_vllm(args.data)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pytest_modeleval.config import Settings
    from pytest_modeleval.engines import vllm as vllm_engine
    from pytest_modeleval.items import load_items
    from pytest_modeleval.modelref import resolve

    settings = Settings(engine="vllm", tensor_parallel=args.tensor_parallel, batch_size=args.batch_size)
    # Loaded once, outside both timings; the pytest run below finds this engine in the per-process cache.
    engine = vllm_engine.load(resolve(args.model), settings)
    items, _ = load_items(str(args.data), suite="gsm8k", base_dir=ROOT, seed=1, sample=args.items)
    prompts = [engine.render(PROMPT.format(**item.fields), chat=True) for item in items]
    run_raw(engine, prompts[:8], args.max_tokens)  # warm up CUDA graphs and kernels for both

    with tempfile.TemporaryDirectory() as tmp:
        raw = run_raw(engine, prompts, args.max_tokens)
        plugin = run_plugin(Path(tmp), args.data, args.model, len(prompts), args.max_tokens, args.batch_size,
                            args.tensor_parallel)
    print(json.dumps({"model": args.model, "items": len(prompts), "max_tokens": args.max_tokens,
                      "batch_size": args.batch_size, "tensor_parallel": args.tensor_parallel,
                      "vllm": engine.info.version}))
    print(f"raw vllm.LLM.generate : {raw:7.2f} s")
    print(f"pytest + vLLM engine  : {plugin:7.2f} s")
    print(f"throughput plugin/raw = {raw / plugin:.2f}  (1.0 = no overhead)")


if __name__ == "__main__":
    main()
