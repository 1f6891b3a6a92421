"""Engines that run a process of their own (vLLM) are shut down when the outermost pytest session ends, however
it ends: after the tests, after a collection error, after -x. (The real vLLM engine's exit, with no process
left behind, is checked once in tests/e2e/test_examples.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CONFTEST = '''
import os, traceback
from pytest_modeleval.engines import vllm


class Engine:
    """Stands in for a loaded vLLM engine: records who shut it down."""

    def shutdown(self):
        by_plugin = any("pytest_unconfigure" in frame for frame in traceback.format_stack())
        with open(os.environ["SHUTDOWN_LOG"], "a") as log:
            log.write("unconfigure\\n" if by_plugin else "atexit\\n")


vllm._LOADED[("engine",)] = Engine()
'''


@pytest.mark.parametrize("tests, args, status", [
    ("def test_ok():\n    pass\n", [], 0),
    ("def test_broken(:\n", [], 2),  # a collection error
    ("def test_a():\n    assert False\n\ndef test_b():\n    pass\n", ["-x"], 1),
], ids=["passed", "collection-error", "exitfirst"])
def test_the_outermost_session_shuts_engines_down(tmp_path, tests, args, status):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_it.py").write_text(tests)
    log = tmp_path / "shutdown.log"
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SHUTDOWN_LOG": str(log)})
    assert done.returncode == status, done.stdout[-2000:]
    assert log.read_text() == "unconfigure\n", "once, by the plugin, not left to the interpreter's exit"


def test_an_in_process_session_leaves_the_engines_to_the_outer_one(pytester, monkeypatch):
    from pytest_modeleval.engines import vllm

    shut = []
    monkeypatch.setitem(vllm._LOADED, ("engine",), type("Engine", (), {"shutdown": lambda self: shut.append(1)})())
    pytester.makepyfile("def test_ok():\n    pass\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert shut == [] and ("engine",) in vllm._LOADED, "a nested run keeps the engine loaded for the next"


def test_an_engine_loaded_before_the_session_is_its_loaders(tmp_path):
    """A script (a benchmark, a notebook) that loads an engine and then runs pytest.main keeps it."""
    (tmp_path / "test_it.py").write_text("def test_ok():\n    pass\n")
    script = CONFTEST + f'''
import pytest
assert pytest.main([{str(tmp_path)!r}, "-q", "-p", "no:cacheprovider"]) == 0
with open(os.environ["SHUTDOWN_LOG"], "a") as log:
    log.write("after pytest.main\\n")
'''
    log = tmp_path / "shutdown.log"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SHUTDOWN_LOG": str(log)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert log.read_text() == "after pytest.main\natexit\n", "kept through the session, ended at exit"
