"""No isolation at all: the runner as a plain child process. Only behind a loudly named option.

The program shares the network, the filesystem and the user with the harness. What is
kept: the rlimits (except the process count, which would count all of the user's
processes), a cleared environment, a temporary working directory, and the wall clock,
which kills the process group (a program that leaves it with setsid survives).
"""

from __future__ import annotations

import shutil
import sys
import tempfile

from .bwrap import ENV
from .capture import Capture
from .limits import Limits
from .outcome import Ending
from .process import run_process

UNSAFE_CHOICE = "UNSAFE-no-isolation"


class UnsafeBackend:
    name = "none"
    rlimit_nproc = False

    def __init__(self, python: str | None = None):
        self.python = python or shutil.which("python3") or sys.executable

    def describe(self) -> str:
        return f"none ({UNSAFE_CHOICE}: model code ran unsandboxed)"

    def run(self, payload: bytes, nonce: str, limits: Limits, runner: str) -> Ending:
        with tempfile.TemporaryDirectory(prefix="modeleval-unsafe-") as work:
            return run_process([self.python, "-s", "-B", "-c", runner], payload, nonce, limits.timeout,
                               Capture(limits.output_bytes, limits.max_output_bytes),
                               env={**ENV, "HOME": work}, cwd=work, shell_style_status=False)
