"""The Ray cluster a session uses: the one at --eval-ray-address, or a local Ray started for the session.

One connection per process, shared by the Ray engine and the sandbox workers, made on first need
(a run without --eval-engine ray or --eval-sandbox-workers never imports ray) and closed at the
end of the session. A Ray this module did not start (a test's, a notebook's) is used as it is
and left running.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .base import EngineError

MISSING = "Ray is not installed: pip install 'pytest-modeleval[ray]'"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pytest_modeleval/, which the workers must import

_CURRENT: "Cluster | None" = None


def import_ray():
    """The ray module, or the EngineError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError(MISSING) from exc
    return ray


class Cluster:
    """A connected Ray: where replicas and sandbox tasks run, and how to say so in a run's header."""

    def __init__(self, ray, address: str | None, owned: bool):
        self.ray = ray
        self.address = address
        self.owned = owned  # started (or connected) here, so shut down here

    @property
    def name(self) -> str:
        """'local Ray' or 'Ray at ADDRESS': what errors and the header call the cluster."""
        return f"Ray at {self.address}" if self.address else "local Ray"

    def describe(self) -> str:
        """'local Ray, 2 CPUs' or 'Ray at ray://head:10001, 64 CPUs, 8 GPUs over 2 nodes'."""
        resources = self.ray.cluster_resources()
        parts = [f"{int(resources.get('CPU', 0))} CPUs"]
        if resources.get("GPU"):
            parts.append(f"{int(resources['GPU'])} GPUs")
        nodes = sum(1 for node in self.ray.nodes() if node.get("Alive"))
        where = f" over {nodes} nodes" if nodes > 1 else ""
        return f"{self.name}, {', '.join(parts)}{where}"

    def check_room(self, cpus: float, who: str, fix: str, wait: float = 10.0) -> None:
        """On a local Ray, work that cannot be placed would wait for ever (replicas hold their CPUs until
        the session ends): say so instead. A remote cluster may be autoscaling, so there it waits.
        CPUs of actors just killed come back within moments, hence the short wait."""
        if self.address is not None:
            return
        deadline = time.monotonic() + wait
        while (free := self.ray.available_resources().get("CPU", 0)) < cpus:
            if time.monotonic() > deadline:
                raise EngineError(f"{self.describe()}: {who} need {cpus:g} CPUs and {free:g} are free (engine "
                                  f"replicas, a judge's too, hold the others); {fix}, or pass "
                                  "--eval-ray-address of a larger cluster")
            time.sleep(0.2)

    def shutdown(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


def connect(address: str | None = None) -> Cluster:
    """The process's Ray connection, made on first call: ray.init(address) or a local Ray."""
    global _CURRENT
    if _CURRENT is not None and _CURRENT.ray.is_initialized():
        return _CURRENT
    ray = import_ray()
    if ray.is_initialized():  # someone in this process connected already: use theirs, leave it running
        _CURRENT = Cluster(ray, address, owned=False)
        return _CURRENT
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env=runtime_env(remote=address is not None))
    except Exception as exc:  # noqa: BLE001 - a bad address, an unreachable head, a version mismatch
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise EngineError(f"--eval-ray-address: cannot connect to {where}: {exc}") from exc
    _CURRENT = Cluster(ray, address, owned=True)
    return _CURRENT


def disconnect() -> None:
    """End of session: shut down the Ray this module started; forget the connection either way."""
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.shutdown()
        _CURRENT = None


def runtime_env(remote: bool) -> dict:
    """Workers must import this package: a local Ray's workers get the driver's import path; a remote
    cluster's get the package itself (py_modules), so every node runs the driver's exact code."""
    if remote:
        return {"py_modules": [str(PACKAGE_DIR)]}
    path = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}
