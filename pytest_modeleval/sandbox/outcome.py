"""The seven outcomes of a sandboxed run and the one rule that maps what happened to them.

A signal is `crashed`, never `timeout`: only the wall clock (the parent killed the
sandbox) and the CPU-time limit (SIGXCPU) are time limits. `sandbox_error` is kept for
runs where the isolation itself failed before the program started: infrastructure, not
the model.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass

OUTCOMES = ("passed", "failed", "error", "timeout", "resource_limit", "crashed", "sandbox_error")
RUNNER_EXIT = {0: "passed", 111: "failed", 112: "error", 113: "resource_limit", 114: "sandbox_error"}
MEMORY_HINTS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


@dataclass(frozen=True)
class SandboxResult:
    outcome: str           # one of OUTCOMES
    message: str           # why, in one line ("AssertionError", "killed after 10 s wall clock", ...)
    stdout: str            # the program's output, first Limits.output_bytes bytes
    stderr: str
    returncode: int | None  # exit status of the sandboxed process; None when killed by a signal or never run
    signal: int | None     # the signal that ended it, if one did
    duration_s: float      # wall clock from launch to exit, sandbox set-up included
    backend: str           # "bwrap", "docker", "docker/runsc" or "none"

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class Ending:
    """What the backend saw, before classification."""

    started: bool                      # the runner's handshake arrived: limits were set, the program began
    verdict: tuple[str, str] | None    # the runner's (outcome, message), if it wrote one
    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False            # the parent killed it at the wall clock
    output_exceeded: bool = False      # the parent killed it for writing too much
    oom_killed: bool = False           # a memory cgroup killed it (Docker)
    launch_error: str | None = None    # the sandbox could not be started at all
    stdout: str = ""
    stderr: str = ""


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(end: Ending, timeout: float) -> tuple[str, str]:
    """(outcome, message) for one run."""
    if end.launch_error is not None:
        return "sandbox_error", end.launch_error
    if end.timed_out:
        if not end.started:
            return "sandbox_error", f"the sandbox did not start the program within {timeout:g} s"
        return "timeout", f"killed after {timeout:g} s wall clock"
    if end.output_exceeded:
        return "resource_limit", "killed for writing more output than the limit"
    if end.verdict is not None and end.verdict[0] in OUTCOMES:
        return end.verdict
    if not end.started:
        detail = end.stderr.strip().splitlines()[-1:] or [f"exit status {end.returncode}"]
        return "sandbox_error", f"the sandbox failed before the program started: {detail[0]}"
    if end.oom_killed:
        return "resource_limit", "killed by the memory limit"
    if end.signal is not None:
        name = signal_name(end.signal)
        if end.signal == signals.SIGXCPU:
            return "timeout", "CPU time limit exceeded (SIGXCPU)"
        if end.signal == signals.SIGXFSZ:
            return "resource_limit", "file size limit exceeded (SIGXFSZ)"
        if any(hint in end.stderr for hint in MEMORY_HINTS):
            return "resource_limit", f"out of memory ({name})"
        return "crashed", f"killed by {name}"
    outcome = RUNNER_EXIT.get(end.returncode)  # the runner exits so only after its verdict, unless it was lost
    if outcome in (None, "passed", "sandbox_error"):
        return "failed", f"the process exited with status {end.returncode} before the runner's verdict"
    return outcome, f"exit status {end.returncode}"


def split_status(returncode: int, *, shell_style: bool) -> tuple[int | None, int | None]:
    """(exit status, signal). bwrap and Docker report a signal as 128 + N; Popen as -N."""
    if returncode < 0:
        return None, -returncode
    if shell_style and 128 < returncode < 128 + 65:
        return None, returncode - 128
    return returncode, None
