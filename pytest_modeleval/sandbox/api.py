"""The public entry: Sandbox(...).run(program, tests) -> SandboxResult, the same on every backend."""

from __future__ import annotations

import dataclasses

from .execute import execute
from .limits import Limits
from .outcome import SandboxResult

DEFAULT_DOCKER_IMAGE = "python:3.11-slim"


class Sandbox:
    """Runs untrusted programs with their tests under limits, on the backend chosen once per process.

    backend: "auto" (bubblewrap, else Docker), "bwrap", "docker", or "UNSAFE-no-isolation".
    python: the interpreter inside (default: the system's python3; never the project's venv).
    """

    def __init__(self, backend: str = "auto", *, python: str | None = None,
                 docker_image: str = DEFAULT_DOCKER_IMAGE, docker_runtime: str | None = None,
                 limits: Limits | None = None):
        self.choice = backend
        self.python = python
        self.docker_image = docker_image
        self.docker_runtime = docker_runtime
        self.limits = limits or Limits()

    @property
    def backend(self):
        """The backend object; the first use probes it (SandboxUnavailable when none works)."""
        from .probe import select

        return select(self.choice, self.python, self.docker_image, self.docker_runtime)

    @property
    def unsafe(self) -> bool:
        return self.backend.name == "none"

    def describe(self) -> str:
        """What runs model code, for the run record: 'bwrap 0.8.0', 'docker python:3.11-slim runtime=runsc', ..."""
        return self.backend.describe()

    def run(self, program: str, tests: str = "", **limits) -> SandboxResult:
        """Run `program`, then `tests` in the same namespace; limits override this sandbox's (see Limits).

        Tests that do not compile are the caller's bug, not the program's: ValueError.
        """
        self._check(program, tests)
        return execute(self.backend, program, tests, dataclasses.replace(self.limits, **limits))

    def run_many(self, jobs: list[tuple[str, str, dict]]) -> list[SandboxResult]:
        """run(program, tests, **limits) for each job, results in order (in parallel on Ray workers)."""
        return [self.run(program, tests, **limits) for program, tests, limits in jobs]

    @staticmethod
    def _check(program, tests) -> None:
        if not isinstance(program, str) or not isinstance(tests, str):
            raise TypeError("sandbox: program and tests must be str")
        try:
            compile(tests, "tests.py", "exec")
        except (SyntaxError, ValueError) as exc:
            raise ValueError(f"sandbox: the tests do not compile: {exc}") from None


def run_code(program: str, tests: str = "", *, backend: str = "auto", **limits) -> SandboxResult:
    """One run on a default Sandbox: `run_code(solution, tests, timeout=5)`."""
    return Sandbox(backend).run(program, tests, **limits)
