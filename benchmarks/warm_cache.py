"""Warm-cache rerun: 10,000 items x 4 variants answered from the prediction cache.

The harness overhead is what is measured, so the engine is a stand-in that answers instantly
(installed through the plugin's own `pytest_modeleval_make_engine` hook) and counts its calls.
Three runs, each a fresh `pytest` process:
  cold  fills the cache (timed, for reference)
  warm  the same suite again: must make zero engine calls
  bare  plain pytest running the same number of trivial parametrized tests
and prints warm/bare (target <= 2).

Run: .venv/bin/python benchmarks/warm_cache.py [--items 10000] [--variants 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CONFTEST = '''
import json, os
from pytest_modeleval.engines.base import EngineInfo

class InstantEngine:
    """Answers every request at once; counts the calls that reach it."""
    info = EngineInfo(kind="instant", version="1", model_hash="0" * 64)
    calls = 0

    def render(self, prompt, chat):
        return prompt

    def generate(self, requests):
        InstantEngine.calls += 1
        return [r.prompt[-8:] for r in requests]

    def count_tokens(self, text):
        return len(text) // 4

def pytest_modeleval_make_engine(resolved, settings):
    return InstantEngine()

def pytest_sessionfinish(session):
    with open(os.environ["ENGINE_CALLS_FILE"], "w") as f:
        json.dump(InstantEngine.calls, f)
'''

SUITE = '''
import pytest_modeleval as modeleval

@modeleval.suite("bulk", data="data.jsonl", request=modeleval.Generate("Q: {question}\\nA:", max_tokens=8))
def test_bulk(item, completion):
    assert completion
'''

BARE = '''
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_bare(i):
    assert i >= 0
'''


def pytest_run(directory: Path, *args: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=directory, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=4)
    args = parser.parse_args()
    n = args.items * args.variants
    import os

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        evals, bare = tmp / "evals", tmp / "bare"
        evals.mkdir()
        bare.mkdir()
        # Variants arrive with the perturbation feature; until then each variant is its own row.
        rows = (json.dumps({"question": f"item {i} variant {v}: what is {i} + {v}?"})
                for i in range(args.items) for v in range(args.variants))
        (evals / "data.jsonl").write_text("\n".join(rows) + "\n")
        (evals / "conftest.py").write_text(textwrap.dedent(CONFTEST))
        (evals / "test_bulk.py").write_text(SUITE)
        (bare / "test_bare.py").write_text(BARE.format(n=n))
        calls_file = tmp / "calls.json"
        env = {**os.environ, "ENGINE_CALLS_FILE": str(calls_file), "HF_HUB_OFFLINE": "1"}
        model = ["--model=embedded", "--eval-batch-size=64"]
        cold = pytest_run(evals, *model, env=env)
        cold_calls = json.loads(calls_file.read_text())
        warm = pytest_run(evals, *model, env=env)
        warm_calls = json.loads(calls_file.read_text())
        plain = pytest_run(bare)
    print(f"{n} tests ({args.items} items x {args.variants} variants)")
    print(f"cold run (fills the cache): {cold:6.2f} s, {cold_calls} engine calls")
    print(f"warm run (from the cache):  {warm:6.2f} s, {warm_calls} engine calls (target 0)")
    print(f"bare pytest, trivial tests: {plain:6.2f} s")
    print(f"warm / bare = {warm / plain:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
