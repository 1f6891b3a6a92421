"""A sandbox for model-generated code: run a program and its tests isolated, under limits, get one outcome.

    from pytest_modeleval.sandbox import Sandbox
    result = Sandbox().run(solution, tests, timeout=10)
    result.outcome  # passed, failed, error, timeout, resource_limit, crashed or sandbox_error

Only the standard library is imported here; the backend is probed on first use. See docs/sandbox.md.
"""

from .api import DEFAULT_DOCKER_IMAGE, Sandbox, run_code
from .limits import Limits
from .outcome import OUTCOMES, SandboxResult
from .probe import SandboxUnavailable
from .unsafe import UNSAFE_CHOICE

__all__ = ["DEFAULT_DOCKER_IMAGE", "Limits", "OUTCOMES", "Sandbox", "SandboxResult", "SandboxUnavailable",
           "UNSAFE_CHOICE", "run_code"]
