"""Data parallelism on Ray: the same GSM8K plan on the in-process engine and on Ray replicas.

One plan (64 GSM8K prompts, chat template, greedy, max_tokens 64, batch size 16) through the
project's predictor, cache off, timed three ways with the models loaded (and warmed) first:
  in-process   the transformers engine in this process, torch on one thread
  ray xR       --eval-engine ray with R replicas (one CPU each, torch on one thread each)
and prints ray x1 / in-process (target: within 10%) and ray xR / ray x1 (target: >= 1.7 for 2
replicas, when each replica has a core of its own). Outputs are checked identical across the runs.

Run: .venv/bin/python benchmarks/ray_replicas.py [--items 64] [--max-tokens 64] [--replicas 1,2]
     [--device cuda]  (on a GPU machine: every engine on CUDA, one GPU per replica)
Reads ../shared/data/gsm8k/test.jsonl beside the checkout, or --data FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
PROMPT = "{question}\nAnswer with just the final number."


def plan(engine, data: Path, items: int, max_tokens: int):
    from pytest_modeleval.engines.base import GenerateRequest

    rows = [json.loads(line) for line in data.read_text().splitlines()[:items]]
    return [GenerateRequest(engine.render(PROMPT.format(**row), True), max_tokens=max_tokens) for row in rows]


def timed(engine, requests, batch_size: int, workdir: Path, name: str) -> tuple[float, list[str]]:
    """The plan through the predictor (cache off), after one warm-up batch on every replica."""
    from pytest_modeleval.runtime.cache.store import PredictionCache
    from pytest_modeleval.runtime.predictor import Predictor

    predictor = Predictor(lambda: engine, PredictionCache(workdir / f"{name}.sqlite", "off"),
                          engine.info.model_hash, batch_size)
    warm = Predictor(lambda: engine, PredictionCache(workdir / f"{name}-warm.sqlite", "off"),
                     engine.info.model_hash, 1)
    warm.generate(requests[:len(getattr(getattr(engine, "dispatcher", None), "replicas", [0]))])
    start = time.perf_counter()
    texts = [p.value for p in predictor.generate(requests)]
    return time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=GSM8K, help="GSM8K-format JSONL (question, answer)")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--replicas", default="1,2", help="replica counts to time, comma-separated")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"missing {args.data}: the benchmark reads GSM8K's test file (--data)")
    counts = [int(n) for n in args.replicas.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray
    import torch

    from pytest_modeleval.config import Settings
    from pytest_modeleval.engines import hf, ray_cluster, ray_engine
    from pytest_modeleval.modelref import resolve

    torch.set_num_threads(1)
    resolved = resolve("embedded")
    gpus = 1 if args.device == "cuda" else 0
    ray.init(num_cpus=max(counts), num_gpus=max(counts) * gpus if gpus else None, include_dashboard=False,
             log_to_driver=False, runtime_env=ray_cluster.runtime_env(remote=False))
    local = hf.load(resolved, batch_size=args.batch_size, device=args.device)
    requests = plan(local, args.data, args.items, args.max_tokens)
    print(f"{len(requests)} GSM8K prompts, max_tokens {args.max_tokens}, batch size {args.batch_size}, "
          f"{args.device}, torch {torch.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seconds, reference = timed(local, requests, args.batch_size, workdir, "local")
        rows = [("in-process", seconds)]
        for count in counts:
            engine = ray_engine.load(resolved, Settings(engine="ray", replicas=count, batch_size=args.batch_size,
                                                        replica_gpus=gpus))
            seconds, texts = timed(engine, requests, args.batch_size, workdir, f"ray{count}")
            engine.close()
            if texts != reference:
                sys.exit(f"ray x{count}: outputs differ from the in-process engine's")
            rows.append((f"ray x{count}", seconds))
    ray.shutdown()
    base = rows[0][1]
    times = dict(rows)
    print(f"{'engine':<12} {'seconds':>8} {'items/s':>8} {'vs in-process':>14}")
    for name, seconds in rows:
        print(f"{name:<12} {seconds:8.1f} {len(requests) / seconds:8.2f} {base / seconds:13.2f}x")
    if "ray x1" in times:
        print(f"ray x1 / in-process throughput: {base / times['ray x1']:.2f} (target >= 0.90)")
        for count in counts[1:]:
            print(f"ray x{count} / ray x1 throughput: {times['ray x1'] / times[f'ray x{count}']:.2f}"
                  + (" (target >= 1.7)" if count == 2 else ""))
    print("outputs identical across engines: yes")


if __name__ == "__main__":
    main()
