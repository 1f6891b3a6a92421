"""Where vLLM's load time goes, and which execution mode to default to: eager against compiled.

Each configuration runs in a process of its own, as a pytest run would: the plugin's vLLM engine on the
embedded model (its own device, dtype, threads and KV cache), started by one short request, then timed
on the same GSM8K chat prompts (greedy). Three configurations:
  eager               --eval-vllm-mode eager (no torch.compile)
  compiled, cold      --eval-vllm-mode compiled with an empty compile cache (a new machine's first run)
  compiled, warm      the same again, its compile cache kept under the cache directory (every later run)
Prints the start-up time (model load, KV cache, compile or its cache, warm-up) and the generation
throughput of each, and the break-even: how many generated tokens make compiled worth its start-up.

Run: .venv/bin/python benchmarks/vllm_modes.py [--items 64] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"
PROMPT = "{question}\nAnswer with just the final number."


def child(mode: str, items: int, max_tokens: int) -> None:
    """One configuration, in this process: prints its figures as one JSON line."""
    from pytest_modeleval.config import Settings
    from pytest_modeleval.engines import vllm
    from pytest_modeleval.engines.base import GenerateRequest
    from pytest_modeleval.modelref import resolve

    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:items]]
    start = time.perf_counter()
    engine = vllm.load(resolve("embedded"), Settings(engine="vllm", vllm_mode=mode))
    engine.generate([GenerateRequest(engine.render("Hi", chat=True), max_tokens=2)])
    startup = time.perf_counter() - start
    requests = [GenerateRequest(engine.render(PROMPT.format(**row), chat=True), max_tokens=max_tokens) for row in rows]
    start = time.perf_counter()
    texts = engine.generate(requests)
    elapsed = time.perf_counter() - start
    generated = sum(engine.count_tokens(text) for text in texts)
    print(json.dumps({"startup": startup, "seconds": elapsed, "tokens": generated, "setup": engine.setup.describe()}))
    vllm.shutdown_all()


# vLLM's own log lines that time the phases of its start-up
PHASES = re.compile(r"(took|takes|Compil|compile|warm|Loading weights|KV cache|init engine)[^\n]*?(\d+\.\d+) ?s", re.I)


def run(mode: str, cache_root: Path, items: int, max_tokens: int) -> dict:
    env = {**os.environ, "VLLM_CACHE_ROOT": str(cache_root), "HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--items", str(items),
                           "--max-tokens", str(max_tokens)], capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode != 0:
        sys.exit(f"{mode}: exit {done.returncode}\n{done.stderr[-3000:]}")
    # vLLM logs to stdout too: the figures are the child's last JSON line
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    result["phases"] = [line.split("] ", 1)[-1].strip() for line in (done.stdout + done.stderr).splitlines()
                        if PHASES.search(line) and "INFO" in line]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--child", choices=["eager", "compiled"])
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.items, args.max_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        results = {"eager": run("eager", Path(tmp) / "eager", args.items, args.max_tokens),
                   "compiled, cold": run("compiled", Path(tmp) / "compiled", args.items, args.max_tokens),
                   "compiled, warm": run("compiled", Path(tmp) / "compiled", args.items, args.max_tokens)}
    print(f"vLLM modes: {args.items} GSM8K prompts x up to {args.max_tokens} greedy tokens; "
          f"{results['eager']['setup']}")
    for name, r in results.items():
        print(f"  {name:16s} start-up {r['startup']:6.1f} s   generation {r['seconds']:6.1f} s "
              f"({r['tokens'] / r['seconds']:6.1f} tokens/s)")
        for phase in r["phases"]:
            print(f"      vLLM: {phase[:160]}")
    eager, warm = results["eager"], results["compiled, warm"]
    per_token = eager["seconds"] / eager["tokens"] - warm["seconds"] / warm["tokens"]
    extra = warm["startup"] - eager["startup"]
    if per_token > 0:
        print(f"  compiled (warm cache) pays off after {max(extra, 0) / per_token:,.0f} generated tokens")
    else:
        print("  compiled is not faster per token here: eager is the better default")


if __name__ == "__main__":
    main()
