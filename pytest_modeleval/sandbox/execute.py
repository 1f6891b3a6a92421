"""One program with its tests through a backend: the runner, its payload, and the classified result.

The probe runs a trivial program through it, and Sandbox.run every real one; it knows no backend by name.
"""

from __future__ import annotations

import marshal
import secrets
import time
from functools import lru_cache
from pathlib import Path

from .limits import Limits
from .outcome import SandboxResult, classify

PROTOCOL = 1  # runner.py's PROTOCOL


@lru_cache(maxsize=1)
def runner_source() -> str:
    return (Path(__file__).parent / "runner.py").read_text(encoding="utf-8")


def execute(backend, program: str, tests: str, limits: Limits) -> SandboxResult:
    nonce = secrets.token_hex(8)
    payload = marshal.dumps((PROTOCOL, nonce, limits.rlimits(nproc=backend.rlimit_nproc), program, tests), 4)
    start = time.perf_counter()
    end = backend.run(payload, nonce, limits, runner_source())
    duration = time.perf_counter() - start
    outcome, message = classify(end, limits.timeout)
    return SandboxResult(outcome=outcome, message=message, stdout=end.stdout, stderr=end.stderr,
                         returncode=end.returncode, signal=end.signal, duration_s=duration, backend=backend.name)
