"""Embedded model load time: first load (GGUF de-quantized and converted) vs later loads (cached).

Each load is a fresh Python process with a fresh cache directory for the first one, so the
figures include importing torch and transformers, as a real pytest session would.
Run: .venv/bin/python benchmarks/embedded_load.py   (target: second load <= 5 s)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

LOAD = ("from pytest_modeleval.engines import hf; from pytest_modeleval.modelref import resolve; "
        "hf.load(resolve('embedded'))")


def timed_load(cache: str) -> float:
    env = {**os.environ, "MODELEVAL_CACHE_DIR": cache, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", LOAD], check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        first = timed_load(cache)
        second = timed_load(cache)
        third = timed_load(cache)
    print(f"first load (converts the GGUF): {first:6.2f} s")
    print(f"second load (cached weights):   {second:6.2f} s (target <= 5)")
    print(f"third load:                     {third:6.2f} s")
    print(f"first / second = {first / second:.1f}x")


if __name__ == "__main__":
    main()
