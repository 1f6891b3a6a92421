"""What the sandbox costs per execution, and how many executions per second two cores give.

Runs one small HumanEval-style program with its tests, interleaved, as a bare `python3`
subprocess (the same interpreter, the program and tests joined, no isolation, no limits)
and through Sandbox("bwrap").run; prints medians, the per-execution overhead, and then
executions per second with 2 worker threads for both.
Run: .venv/bin/python benchmarks/sandbox_overhead.py [--repeat N] [--backend bwrap]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from pytest_modeleval.sandbox import Sandbox

PROGRAM = '''
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
'''
TESTS = '''
assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) is True
assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) is False
assert has_close_elements([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) is False
'''


def bare(python: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-s", "-B", "-c", PROGRAM + TESTS], check=True, capture_output=True, timeout=10,
                   stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def sandboxed(box: Sandbox) -> float:
    start = time.perf_counter()
    result = box.run(PROGRAM, TESTS)
    if not result.passed:
        raise SystemExit(f"sandboxed run ended as {result.outcome}: {result.message}\n{result.stderr}")
    return time.perf_counter() - start


def per_second(run, count: int, workers: int = 2) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: run(), range(count)))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--backend", default="bwrap")
    args = parser.parse_args()
    box = Sandbox(args.backend)
    python = getattr(box.backend, "python", "python3")
    print(f"backend {box.describe()}, interpreter {python}, {os.cpu_count()} cpus")
    bare(python), sandboxed(box)  # warm the page cache
    plain, boxed = [], []
    for _ in range(args.repeat):
        plain.append(bare(python))
        boxed.append(sandboxed(box))
    a, b = statistics.median(plain), statistics.median(boxed)
    p95 = statistics.quantiles(boxed, n=20)[-1]
    print(f"per execution: bare python3 {a * 1000:6.1f} ms, sandboxed {b * 1000:6.1f} ms (p95 {p95 * 1000:.1f} ms), "
          f"overhead {1000 * (b - a):+.1f} ms (medians of {args.repeat} interleaved runs each)")
    count = args.repeat
    print(f"2 workers: bare python3 {per_second(lambda: bare(python), count):6.1f} executions/s, "
          f"sandboxed {per_second(lambda: sandboxed(box), count):6.1f} executions/s ({count} each)")


if __name__ == "__main__":
    main()
