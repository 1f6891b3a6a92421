"""The sandbox: outcome rules, the deny-list, limits, backend probing (no silent downgrade), the Docker
backend's configuration, and the `sandbox` fixture end to end. The hostile corpus and the canonical
HumanEval check are in test_sandbox_hostile.py and test_sandbox_humaneval.py."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import signal
import socket
import struct
import subprocess
import textwrap
import threading
import types

import pytest

from evalkit import query
from pytest_modeleval.sandbox import OUTCOMES, Limits, Sandbox, SandboxUnavailable, run_code, seccomp
from pytest_modeleval.sandbox.capture import Capture
from pytest_modeleval.sandbox.execute import execute
from pytest_modeleval.sandbox.docker import DockerBackend, container_options, seccomp_profile
from pytest_modeleval.sandbox.outcome import Ending, classify, split_status
from pytest_modeleval.sandbox.probe import _probe, select

NONCE = "0123456789abcdef"


@pytest.fixture(scope="module")
def box() -> Sandbox:
    sandbox = Sandbox("bwrap")
    sandbox.describe()  # probes now: a broken bwrap fails here with the probe's reasons
    return sandbox


# --- outcomes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("program, tests, outcome, message", [
    ("def f(x):\n    return x + 1\n", "assert f(1) == 2\n", "passed", ""),
    ("def f(x):\n    return x\n", "assert f(1) == 2\n", "failed", "AssertionError"),
    ("def f(x):\n    return x.nope\n", "f(1)\n", "failed", "AttributeError"),
    ("def f(x)\n    return x\n", "f(1)\n", "error", "SyntaxError"),
    ("import no_such_module\n", "", "error", "ModuleNotFoundError"),
    ("value = undefined_name\n", "", "error", "NameError"),
    ("import sys\nsys.exit(0)\n", "assert False\n", "failed", "sys.exit(0) before its tests ran"),
    ("import sys\n", "sys.exit(0)\n", "failed", "before its tests finished"),
    ("import os\nos._exit(0)\n", "assert False\n", "failed", "before the runner's verdict"),
    ("print('only a script')\nraise SystemExit(0)\n", "", "passed", ""),
    ("data = bytearray(2 ** 40)\n", "", "resource_limit", "MemoryError"),
    ("import ctypes\nctypes.string_at(0)\n", "", "crashed", "SIGSEGV"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGABRT)\n", "", "crashed", "SIGABRT"),
])
def test_outcomes(box, program, tests, outcome, message):
    result = box.run(program, tests, timeout=5)
    assert (result.outcome, result.backend) == (outcome, "bwrap"), (result.message, result.stderr)
    assert message in result.message


def test_output_is_captured_capped_and_free_of_the_runners_lines(box):
    result = box.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n", "print('from tests')\n")
    assert (result.outcome, result.stdout, result.stderr) == ("passed", "out\nfrom tests\n", "err\n")
    big = box.run("print('x' * 100000)\n", output_bytes=1000)
    assert big.outcome == "passed" and big.stdout == "x" * 1000


def test_ordinary_programs_work_inside(box):
    """multiprocessing (AF_UNIX, /dev/shm, pickling the program's own functions), files in /tmp, threads."""
    program = "import multiprocessing, threading\ndef square(x):\n    return x * x\n"
    tests = textwrap.dedent("""
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(square, range(5)) == [0, 1, 4, 9, 16]
        with open("notes.txt", "w") as f:
            f.write("ok")
        thread = threading.Thread(target=square, args=(2,))
        thread.start()
        thread.join()
    """)
    result = box.run(program, tests)
    assert result.outcome == "passed", result.stderr


def test_a_traceback_shows_the_program_not_the_runner(box):
    result = box.run("def f():\n    return 1 / 0\n", "f()\n")
    assert 'File "program.py", line 2, in f' in result.stderr and "return 1 / 0" in result.stderr
    assert "<string>" not in result.stderr


def test_timeout_is_the_wall_clock_and_a_signal_is_never_a_timeout(box):
    slow = box.run("import time\ntime.sleep(60)\n", timeout=0.5)
    assert slow.outcome == "timeout" and 0.5 <= slow.duration_s < 3
    crash = box.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", timeout=5)
    assert crash.outcome == "crashed" and crash.signal == signal.SIGKILL


def test_tests_that_do_not_compile_are_the_callers_error(box):
    with pytest.raises(ValueError, match="the tests do not compile"):
        box.run("x = 1\n", "assert (\n")


def test_run_code_and_limits_validation():
    assert run_code("x = 1\n", "assert x == 1\n", backend="bwrap").passed
    with pytest.raises(ValueError, match="memory_mb must be positive"):
        Limits(memory_mb=0)


@pytest.mark.parametrize("end, expected", [
    (Ending(started=False, verdict=None, launch_error="no bwrap"), "sandbox_error"),
    (Ending(started=False, verdict=None, returncode=1, stderr="bwrap: Creating new namespace failed"),
     "sandbox_error"),
    (Ending(started=False, verdict=None, timed_out=True), "sandbox_error"),
    (Ending(started=True, verdict=None, timed_out=True, signal=9), "timeout"),
    (Ending(started=True, verdict=None, output_exceeded=True), "resource_limit"),
    (Ending(started=True, verdict=("failed", "AssertionError"), returncode=111), "failed"),
    (Ending(started=True, verdict=None, signal=signal.SIGSEGV), "crashed"),
    (Ending(started=True, verdict=None, signal=signal.SIGKILL), "crashed"),
    (Ending(started=True, verdict=None, signal=signal.SIGXCPU), "timeout"),
    (Ending(started=True, verdict=None, signal=signal.SIGXFSZ), "resource_limit"),
    (Ending(started=True, verdict=None, signal=signal.SIGABRT, stderr="Fatal Python error: MemoryError"),
     "resource_limit"),
    (Ending(started=True, verdict=None, oom_killed=True, signal=9), "resource_limit"),
    (Ending(started=True, verdict=None, returncode=0), "failed"),
    (Ending(started=True, verdict=None, returncode=114), "failed"),  # the program cannot claim infrastructure
    (Ending(started=True, verdict=None, returncode=113), "resource_limit"),
])
def test_classification_rule(end, expected):
    outcome, message = classify(end, timeout=10)
    assert outcome == expected and outcome in OUTCOMES and message


def test_exit_status_conventions():
    assert split_status(139, shell_style=True) == (None, 11)
    assert split_status(-11, shell_style=False) == (None, 11)
    assert split_status(139, shell_style=False) == (139, None)
    assert split_status(1, shell_style=True) == (1, None)


def test_capture_keeps_the_head_and_finds_the_verdict_past_the_cap():
    capture = Capture(keep=10, ceiling=10 ** 6)
    capture.add("stdout", f"{NONCE} start\n".encode() + b"y" * 5000)
    capture.add("stdout", f"\n{NONCE} passed \n".encode())
    assert capture.started(NONCE) and capture.verdict(NONCE) == ("passed", "")
    assert capture.text("stdout", NONCE) == "y" * 10 and not capture.exceeded


# --- the deny-list -------------------------------------------------------------------------------

def test_syscall_numbers_match_libseccomp():
    """The hand-written tables against libseccomp's, where the library is installed."""
    name = ctypes.util.find_library("seccomp")
    if name is None:
        pytest.skip("libseccomp is not installed; the tables cannot be cross-checked")
    lib = ctypes.CDLL(name)
    resolve = lib.seccomp_syscall_resolve_name_arch
    for arch, (audit_arch, table, _) in seccomp.ARCHES.items():
        wrong = {call: (nr, resolve(audit_arch, call.encode())) for call, nr in table.items()
                 if resolve(audit_arch, call.encode()) != nr}
        assert not wrong, f"{arch}: ours vs libseccomp's {wrong}"


def test_filter_has_every_denied_call_and_unknown_architectures_are_refused():
    program = seccomp.filter_program("x86_64")
    assert len(program) % 8 == 0 and len(program) // 8 > len(seccomp.DENIED)
    with pytest.raises(seccomp.SeccompUnsupported, match="no syscall table for architecture 'mips'"):
        seccomp.filter_program("mips")


def test_denied_calls_fail_inside(box):
    table = seccomp.ARCHES[seccomp.machine()][1]
    calls = {name: table[name] for name in ("ptrace", "unshare", "setns", "mount", "keyctl", "bpf", "userfaultfd",
                                            "perf_event_open", "io_uring_setup", "init_module", "kexec_load")}
    program = textwrap.dedent(f"""
        import ctypes, errno, os, socket
        libc = ctypes.CDLL(None, use_errno=True)
        results = {{}}
        for name, nr in {calls!r}.items():
            results[name] = (libc.syscall(nr, 0, 0, 0, 0, 0), errno.errorcode.get(ctypes.get_errno()))
        results["clone_newuser"] = (libc.syscall({table["clone"]}, 0x10000000 | 17, 0, 0, 0, 0),
                                    errno.errorcode.get(ctypes.get_errno()))
        for family in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):
            try:
                socket.socket(family, socket.SOCK_DGRAM)
                results[str(family)] = "open"
            except OSError as exc:
                results[str(family)] = errno.errorcode[exc.errno]
        a, b = socket.socketpair()  # AF_UNIX stays allowed: multiprocessing needs it
        results["unix"] = "open"
        print(results)
    """)
    result = box.run(program)
    assert result.outcome == "passed", result.stderr
    found = eval(result.stdout)  # noqa: S307 - our own program's repr
    assert found.pop("unix") == "open"
    assert all(value[0] == -1 and value[1] == "EPERM" for key, value in found.items() if isinstance(value, tuple))
    assert [v for v in found.values() if isinstance(v, str)] == ["EAFNOSUPPORT"] * 4


# --- probing: once, and never a silent downgrade -------------------------------------------------

def test_no_backend_is_an_error_that_says_why_and_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox("auto").run("x = 1\n")
    message = str(info.value)
    assert "no sandbox backend works" in message
    assert "bwrap: bubblewrap is not installed" in message and "apt-get install bubblewrap" in message
    assert "docker: " in message and "Fix:" in message and "UNSAFE-no-isolation" in message


def test_the_probe_runs_once_per_process():
    _probe.cache_clear()
    backends = {id(select("bwrap", None, "python:3.11-slim", None)) for _ in range(3)}
    assert len(backends) == 1 and (_probe.cache_info().misses, _probe.cache_info().hits) == (1, 2)


def test_an_interpreter_outside_the_mounted_directories_is_refused(tmp_path):
    with pytest.raises(SandboxUnavailable, match="outside the directories the sandbox mounts"):
        Sandbox("bwrap", python=str(tmp_path / "python3")).describe()


# --- Docker --------------------------------------------------------------------------------------

def _docker_reason() -> str | None:
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        return f"no Docker engine runs here ({type(exc).__name__}); the Docker backend is not exercised"
    return None


def test_docker_container_is_locked_down():
    """What the Docker backend asks for, checked without a daemon."""
    options = container_options("python:3.11-slim", "runsc", Limits(memory_mb=256, processes=8), "RUNNER")
    assert options["network_mode"] == "none" and options["read_only"] is True
    assert options["cap_drop"] == ["ALL"] and options["runtime"] == "runsc"
    assert options["mem_limit"] == options["memswap_limit"] == 256 * 2 ** 20 and options["pids_limit"] == 8
    assert options["user"] == "65534:65534" and options["command"][-1] == "RUNNER"
    assert "no-new-privileges" in options["security_opt"]
    profile = json.loads(next(o for o in options["security_opt"] if o.startswith("seccomp="))[len("seccomp="):])
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = {name for rule in profile["syscalls"] for name in rule["names"]}
    assert set(seccomp.DENIED) | {"socket", "socketpair", "clone", "clone3"} <= denied
    assert json.loads(seccomp_profile()) == profile


class FakeContainer:
    """A stand-in for a Docker container: runs the command as a local process (trusted programs only) and
    speaks Docker's attach protocol (stdin in, multiplexed stdout / stderr frames out) over a socket pair."""

    def __init__(self, options):
        self.options, self.attrs = options, {"State": {"OOMKilled": False}}
        self.ours, self.theirs = socket.socketpair()
        self.proc = None

    def attach_socket(self, params):
        assert params == {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        return self.ours

    def start(self):
        command = ["/usr/bin/python3", *self.options["command"][1:]]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.options["environment"])
        threading.Thread(target=self._stdin, daemon=True).start()
        lock = threading.Lock()
        self.senders = [threading.Thread(target=self._frames, args=(number, stream, lock), daemon=True)
                        for number, stream in ((1, self.proc.stdout), (2, self.proc.stderr))]
        for sender in self.senders:
            sender.start()

    def _stdin(self):
        with self.theirs.makefile("rb") as data:
            self.proc.stdin.write(data.read())
        self.proc.stdin.close()

    def _frames(self, number, stream, lock):
        for chunk in iter(lambda: stream.read1(65536), b""):
            with lock:
                self.theirs.sendall(struct.pack(">BxxxL", number, len(chunk)) + chunk)

    def wait(self, timeout):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise OSError("read timed out") from None
        for sender in self.senders:  # as Docker does: all output is sent before the stream ends
            sender.join()
        self.theirs.close()
        return {"StatusCode": code if code >= 0 else 128 - code}

    def kill(self):
        self.proc.kill()

    def reload(self):
        pass

    def remove(self, force):
        self.theirs.close()


def test_docker_backend_path_with_a_fake_engine():
    """The Docker backend's own code (payload in, frames out, status, wall clock) against a stand-in engine."""
    containers = []

    class Containers:
        def create(self, **options):
            containers.append(FakeContainer(options))
            return containers[-1]

    backend = object.__new__(DockerBackend)
    backend.client, backend.image, backend.runtime, backend.name = types.SimpleNamespace(containers=Containers()), \
        "python:3.11-slim", None, "docker"
    limits = Limits(timeout=5)
    cases = [("def f():\n    return 1\n", "print('hi')\nassert f() == 1\n", "passed"),
             ("def f():\n    return 2\n", "assert f() == 1\n", "failed"),
             ("import nope\n", "", "error"),
             ("import ctypes\nctypes.string_at(0)\n", "", "crashed")]
    for program, tests, outcome in cases:
        result = execute(backend, program, tests, limits)
        assert (result.outcome, result.backend) == (outcome, "docker"), (result.message, result.stderr)
    assert execute(backend, "print('hi')\n", "", limits).stdout == "hi\n"
    slow = execute(backend, "import time\ntime.sleep(30)\n", "", Limits(timeout=0.5))
    assert slow.outcome == "timeout" and slow.duration_s < 5


def test_docker_backend_runs_like_bwrap():
    reason = _docker_reason()
    if reason:
        pytest.skip(reason)
    box = Sandbox("docker")
    assert box.run("def f():\n    return 1\n", "assert f() == 1\n").outcome == "passed"
    assert box.run("def f():\n    return 2\n", "assert f() == 1\n").outcome == "failed"
    assert box.run("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n").outcome == "error"
    assert box.run("while True:\n    pass\n", timeout=1).outcome == "timeout"


# --- the fixture ---------------------------------------------------------------------------------

FIXTURE_TEST = """
def test_code(sandbox):
    result = sandbox.run("def f(x):\\n    return 2 * x\\n", "assert f(2) == 4\\n")
    assert result.outcome == "passed", result.message
    print("backend:", result.backend)
"""


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def test_fixture_runs_code_in_the_sandbox(pytester):
    pytester.makepyfile(test_code=FIXTURE_TEST)
    result = run(pytester, "-s", "--eval-sandbox=bwrap")
    result.assert_outcomes(passed=1)
    assert "backend: bwrap" in result.stdout.str() and "WITHOUT ISOLATION" not in result.stdout.str()


def test_fixture_errors_when_no_backend_works(pytester, monkeypatch):
    monkeypatch.setenv("PATH", str(pytester.path))
    pytester.makepyfile(test_code=FIXTURE_TEST)
    result = run(pytester, "--eval-sandbox=bwrap")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*sandbox: the bwrap sandbox backend does not work*",
                                 "*bubblewrap is not installed*", "*Fix: *"])


def test_unsafe_mode_is_explicit_loud_and_recorded(pytester):
    pytester.makepyfile(test_code=FIXTURE_TEST)
    result = run(pytester, "-s", "--eval-sandbox=UNSAFE-no-isolation")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "backend: none" in out and out.count("model-generated code runs WITHOUT ISOLATION") == 2
    result = run(pytester, "--eval-sandbox=unsafe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid value for --eval-sandbox: 'unsafe'*"])


SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("code", data=[{"solution": "def f():\\n    return 1\\n"}, {"solution": "def f(:\\n"}])
def test_code(item, sandbox):
    result = sandbox.run(item["solution"], "assert f() == 1\\n")
    assert result.outcome == "passed", result.outcome
"""


@pytest.mark.parametrize("choice, recorded", [("bwrap", "bwrap 0."), ("UNSAFE-no-isolation", "none (UNSAFE")])
def test_the_backend_is_recorded_with_the_run(pytester, choice, recorded):
    pytester.makepyfile(test_suite=SUITE)
    result = run(pytester, "--model=embedded", f"--eval-sandbox={choice}")
    assert result.ret == 0, result.stdout.str()
    (row,) = query(pytester.path / ".modeleval/results.sqlite", "SELECT sandbox, settings FROM runs")
    assert row["sandbox"].startswith(recorded) and json.loads(row["settings"])["sandbox"] == choice
    assert ("WITHOUT ISOLATION" in result.stdout.str()) == (choice != "bwrap")
