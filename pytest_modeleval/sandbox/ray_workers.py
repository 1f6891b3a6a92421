"""--eval-sandbox-workers N: sandbox executions as Ray tasks on the cluster's nodes.

Each task builds the same Sandbox on its node (the backend chosen and probed there: bubblewrap
unless told otherwise) and runs the program exactly as a local run would, so outcomes do not
depend on where they ran. `run_many` keeps up to N executions in flight: a HumanEval item with
200 samples is 200 independent programs. Ray is imported only when a sandbox of this kind is made.
"""

from __future__ import annotations

import dataclasses

from .api import Sandbox
from .outcome import SandboxResult
from .probe import SandboxUnavailable


def _on_node(settings: dict, program: str, tests: str, limits: dict) -> SandboxResult:
    """The task's body: a Sandbox like the driver's, on this node."""
    return Sandbox(**settings).run(program, tests, **limits)


def _describe_on_node(settings: dict) -> str:
    try:
        return Sandbox(**settings).describe()
    except SandboxUnavailable as exc:
        return f"unavailable: {exc}"


class RaySandbox(Sandbox):
    """A Sandbox whose runs are Ray tasks (one CPU each), up to `workers` at a time."""

    def __init__(self, sandbox: Sandbox, workers: int, address: str | None = None):
        super().__init__(sandbox.choice, python=sandbox.python, docker_image=sandbox.docker_image,
                         docker_runtime=sandbox.docker_runtime, limits=sandbox.limits)
        self.workers = workers
        self.address = address
        self._cluster = None
        self._described = None

    @property
    def cluster(self):
        if self._cluster is None:
            from ..engines import ray_cluster

            self._cluster = ray_cluster.connect(self.address)
        return self._cluster

    def _settings(self) -> dict:
        return {"backend": self.choice, "python": self.python, "docker_image": self.docker_image,
                "docker_runtime": self.docker_runtime, "limits": self.limits}

    @property
    def unsafe(self) -> bool:
        return self.choice == "UNSAFE-no-isolation"

    def describe(self) -> str:
        """The backend as a Ray task finds it, e.g. 'bwrap 0.8.0 on Ray tasks (local Ray)'. A node
        without a working backend makes the fixture an error, as locally."""
        if self._described is None:
            self._room()
            ray = self.cluster.ray
            found = ray.get(ray.remote(_describe_on_node).options(num_cpus=1).remote(self._settings()))
            if found.startswith("unavailable: "):
                raise SandboxUnavailable(f"on {self.cluster.name}: {found.removeprefix('unavailable: ')}")
            self._described = f"{found} on Ray tasks ({self.cluster.name})"
        return self._described

    def run(self, program: str, tests: str = "", **limits) -> SandboxResult:
        return self.run_many([(program, tests, limits)])[0]

    def run_many(self, jobs: list[tuple[str, str, dict]]) -> list[SandboxResult]:
        """(program, tests, limits) each, results in order; at most `workers` tasks in flight."""
        for program, tests, limits in jobs:
            self._check(program, tests)
            dataclasses.replace(self.limits, **limits)  # a bad limit is the caller's error, here, not remote
        self._room()
        ray = self.cluster.ray
        task = ray.remote(_on_node).options(num_cpus=1, max_retries=2)
        settings = ray.put(self._settings())
        refs, results, pending = {}, [None] * len(jobs), list(enumerate(jobs))
        while pending or refs:
            while pending and len(refs) < self.workers:
                index, (program, tests, limits) = pending.pop(0)
                refs[task.remote(settings, program, tests, limits)] = index
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                results[refs.pop(ref)] = self._result(ref)
        return results

    def _room(self) -> None:
        """A CPU for at least one task, or the error that says who holds them (as SandboxUnavailable: the
        tests that use the fixture become errors, as when no backend works)."""
        from ..engines.base import EngineError

        try:
            self.cluster.check_room(1, "sandbox tasks", "lower --eval-replicas or --eval-replica-cpus")
        except EngineError as exc:
            raise SandboxUnavailable(str(exc)) from None

    def _result(self, ref) -> SandboxResult:
        """The task's result; a task Ray could not run (its node lost, twice) is a sandbox_error, which the
        suites report as an infrastructure error, never as the program's outcome."""
        try:
            return self.cluster.ray.get(ref)
        except Exception as exc:  # noqa: BLE001
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return SandboxResult(outcome="sandbox_error", message=f"the Ray task on {self.cluster.name} failed: "
                                 f"{first}", stdout="", stderr="", returncode=None, signal=None, duration_s=0.0,
                                 backend=self.choice)
