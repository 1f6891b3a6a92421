"""Which backend runs model code: probed once per process (per choice and per bwrap found), never downgraded.

`auto` takes bubblewrap, else Docker; it never falls back to running unsandboxed. When
no backend works, SandboxUnavailable says why each one failed and how to fix it.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache

CHOICES = ("auto", "bwrap", "docker")
FIX = ("Fix: install bubblewrap (apt-get install bubblewrap, or scripts/install.sh) on a kernel that allows "
       "unprivileged user namespaces, or start a Docker engine and use --eval-sandbox=docker. "
       "--eval-sandbox=UNSAFE-no-isolation runs model code without any isolation (never on shared machines).")
PROBE_PROGRAM = "import os\nvalue = os.getpid()\n"
PROBE_TESTS = "assert value > 0\n"


class SandboxUnavailable(RuntimeError):
    """No sandbox backend works here; the message names each backend's reason and the fix."""


def select(choice: str, python: str | None, docker_image: str, docker_runtime: str | None):
    """The working backend for `choice`, probed on first use and remembered for this process."""
    from .unsafe import UNSAFE_CHOICE, UnsafeBackend

    if choice == UNSAFE_CHOICE:
        return UnsafeBackend(python)
    if choice not in CHOICES:
        raise ValueError(f"unknown sandbox backend {choice!r} (choose {', '.join(CHOICES)} or {UNSAFE_CHOICE})")
    found = shutil.which("bwrap"), os.environ.get("DOCKER_HOST")  # a changed PATH or engine is probed anew
    backend, reasons = _probe(choice, python, docker_image, docker_runtime, found)
    if backend is None:
        lines = "\n".join(f"  {name}: {reason}" for name, reason in reasons)
        wanted = "no sandbox backend works" if choice == "auto" else f"the {choice} sandbox backend does not work"
        raise SandboxUnavailable(f"{wanted}, so model code cannot run isolated:\n{lines}\n{FIX}")
    return backend


@lru_cache(maxsize=None)
def _probe(choice, python, docker_image, docker_runtime, found):
    reasons = []
    for name in (("bwrap", "docker") if choice == "auto" else (choice,)):
        try:
            backend = _make(name, python, docker_image, docker_runtime)
            reason = _check(backend)
        except Exception as exc:  # noqa: BLE001 - every failure is a reason to report, not to crash on
            reason = str(exc) or type(exc).__name__
        if reason is None:
            return backend, ()
        reasons.append((name, reason))
    return None, tuple(reasons)


def _make(name, python, docker_image, docker_runtime):
    if name == "bwrap":
        from .bwrap import BwrapBackend

        return BwrapBackend(python)
    from .docker import DockerBackend

    return DockerBackend(docker_image, docker_runtime)


def _check(backend) -> str | None:
    """Run a trivial program through the whole path; None when it passed, else why not."""
    from .execute import execute
    from .limits import Limits

    result = execute(backend, PROBE_PROGRAM, PROBE_TESTS, Limits(timeout=30))
    if result.passed:
        return None
    return f"a trivial program ended as {result.outcome}: {result.message}"
