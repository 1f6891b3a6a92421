"""--eval-sandbox-workers: sandbox runs as Ray tasks on the session's local Ray give the outcomes of
local runs, in the same (bubblewrap) sandbox."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")
pytestmark = pytest.mark.xdist_group("ray")  # one worker starts the local Ray (tests/conftest.py::local_ray)

from pytest_modeleval.sandbox import Sandbox, SandboxUnavailable  # noqa: E402
from pytest_modeleval.sandbox.ray_workers import RaySandbox  # noqa: E402

JOBS = [("def f(x):\n    return x + 1\n", "assert f(1) == 2\n", {}),
        ("def f(x):\n    return x\n", "assert f(1) == 2\n", {}),
        ("def f(x) return x\n", "assert f(1) == 2\n", {}),
        ("while True:\n    pass\n", "", {"timeout": 1}),
        ("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n", "", {})]


@pytest.fixture(scope="module")
def local():
    sandbox = Sandbox("bwrap")
    try:
        sandbox.describe()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap does not work here: {exc}")
    return sandbox


def test_ray_tasks_give_the_local_outcomes_in_the_same_sandbox(local_ray, local):
    on_ray = RaySandbox(local, workers=2)
    assert on_ray.describe() == f"{local.describe()} on Ray tasks (local Ray)"
    remote = on_ray.run_many(JOBS)
    here = local.run_many(JOBS)
    assert [r.outcome for r in remote] == [r.outcome for r in here] == \
        ["passed", "failed", "error", "timeout", "error"]
    assert [r.message for r in remote] == [r.message for r in here]
    assert {r.backend for r in remote} == {"bwrap"}
    assert on_ray.run("print('hi')").stdout == "hi\n"
    with pytest.raises(ValueError, match="the tests do not compile"):  # the caller's bug, said here
        on_ray.run_many([("x = 1", "assert (", {})])


def test_the_fixture_runs_on_ray_tasks_with_the_option(pytester, local_ray):
    pytester.makepyfile(test_code="""
        def test_code(sandbox):
            assert "on Ray tasks (local Ray)" in sandbox.describe()
            results = sandbox.run_many([("x = %d" % i, "assert x == 2", {}) for i in range(4)])
            assert [r.outcome for r in results] == ["failed", "failed", "passed", "failed"]
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--eval-sandbox-workers=2")
    result.assert_outcomes(passed=1)
