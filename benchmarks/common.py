"""Shared by the benchmark scripts (run as `python benchmarks/NAME.py`, so this imports as `common`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest


def timed_pytest(test_file: Path, *args: str) -> float:
    """Wall time of an in-process pytest run on one file, so a loaded model stays loaded; exits on failure.

    Give each run its own file name: pytest.main reuses modules it imported before.
    """
    directory = test_file.parent
    start = time.perf_counter()
    code = pytest.main([str(test_file), *args, "--eval-cache=off", f"--eval-db={directory / 'results.sqlite'}",
                        "-q", "-p", "no:cacheprovider", "--rootdir", str(directory)])
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"pytest exited {code}")
    return elapsed
