"""What an installed-but-unused plugin costs a project that runs no eval.

Times `pytest --version` and a run of 500 trivial tests, each with the plugin and with
`-p no:modeleval`, interleaved, and prints the means and the ratios.
Run: .venv/bin/python benchmarks/plugin_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def compare(label: str, args: list[str], repeat: int) -> None:
    timed(args)  # warm the file cache
    with_plugin, without = [], []
    for _ in range(repeat):
        with_plugin.append(timed(args))
        without.append(timed([*args, "-p", "no:modeleval"]))
    a, b = statistics.mean(with_plugin), statistics.mean(without)
    print(f"{label}: with plugin {a * 1000:7.1f} ms, without {b * 1000:7.1f} ms, "
          f"ratio {a / b:.3f} ({1000 * (a - b):+.1f} ms, {repeat} runs each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat
    compare("pytest --version      ", ["--version"], repeat)
    with tempfile.TemporaryDirectory() as tmp:
        tests = Path(tmp) / "test_plain.py"
        tests.write_text("import pytest\n\n@pytest.mark.parametrize('i', range(500))\ndef test_plain(i):\n    assert i >= 0\n")
        compare("500 plain tests       ", ["-q", "-p", "no:cacheprovider", "--rootdir", tmp, str(tests)], repeat)


if __name__ == "__main__":
    main()
