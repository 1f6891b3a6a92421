"""pytest glue for the `sandbox` fixture: one Sandbox per session from the settings, probed once.

A backend that does not work makes every test using the fixture an error, with the
probe's reasons and the fix, rather than running the code some weaker way. The backend
used is put on each test (session.SANDBOX_KEY) so that the run record names it; the unsafe mode
is announced when first used and again at the end of the run (and in the header of a model run).
"""

from __future__ import annotations

import pytest

from .api import Sandbox
from .probe import SandboxUnavailable
from .unsafe import UNSAFE_CHOICE

_SESSION_KEY = pytest.StashKey[Sandbox]()
UNSAFE_WARNING = (f"modeleval: WARNING: --eval-sandbox={UNSAFE_CHOICE}: model-generated code runs WITHOUT "
                  f"ISOLATION (network, files and processes of this user are open to it); recorded with the run")


def sandbox_for(request) -> Sandbox:
    config = request.config
    sandbox = config.stash.get(_SESSION_KEY, None)
    if sandbox is None:
        from ..stash import COLLECTOR_KEY

        settings = config.stash[COLLECTOR_KEY].settings
        sandbox = Sandbox(settings.sandbox, docker_image=settings.docker_image,
                          docker_runtime=settings.docker_runtime)
        if settings.sandbox_workers:  # runs as Ray tasks on the cluster's nodes
            from .ray_workers import RaySandbox

            sandbox = RaySandbox(sandbox, settings.sandbox_workers, settings.ray_address)
        config.stash[_SESSION_KEY] = sandbox
        if sandbox.choice == UNSAFE_CHOICE:
            _announce(config)
    from ..stash import SANDBOX_KEY

    try:
        request.node.stash[SANDBOX_KEY] = sandbox.describe()  # the first call probes the backend
    except SandboxUnavailable as exc:
        request.node.stash[SANDBOX_KEY] = "unavailable"
        pytest.fail(f"sandbox: {exc}", pytrace=False)
    return sandbox


def _announce(config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(UNSAFE_WARNING, red=True, bold=True)
    config.pluginmanager.register(_UnsafeNotice(), "modeleval-sandbox-unsafe")


class _UnsafeNotice:
    """Repeats the warning under the summary, where it is seen after a long run."""

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(UNSAFE_WARNING, red=True, bold=True)
