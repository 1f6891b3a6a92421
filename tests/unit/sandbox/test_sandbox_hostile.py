"""The hostile corpus: programs a model might write, by accident or not. Each asserts, from outside the
sandbox, that the harm was contained, and that the run ended with the right outcome.

Every program first names its process (PR_SET_NAME, inherited by forks) with a tag unique to the test;
after the run no process with that name may be left on the machine.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from pytest_modeleval.sandbox import Sandbox
from testpaths import REPO

CHECKOUT = REPO
SECRET = "modeleval-canary-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def box() -> Sandbox:
    sandbox = Sandbox("bwrap")
    sandbox.describe()  # a broken bwrap fails here with the probe's reasons
    return sandbox


@pytest.fixture
def tag():
    """A process name for this test's program; none may survive the run."""
    name = "mev" + uuid.uuid4().hex[:12]
    yield name
    left = [pid for pid in os.listdir("/proc") if pid.isdigit() and _comm(pid) == name]
    assert not left, f"processes of the sandboxed program survived the run: {left}"


def _comm(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def hostile(tag: str, body: str) -> str:
    return (f"import ctypes\nctypes.CDLL(None).prctl(15, {tag.encode()!r}, 0, 0, 0)\n"
            + textwrap.dedent(body))


class Listener:
    """A TCP or UDP socket on the host's loopback, counting what reaches it."""

    def __init__(self, kind: int):
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        if kind == socket.SOCK_STREAM:
            self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.kind, self.hits, self.stop = kind, 0, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    self.sock.accept()[0].close()
                else:
                    self.sock.recv(100)
                self.hits += 1
            except OSError:
                pass

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        self.sock.close()
        return self.hits


def test_tcp_connection_is_refused(box, tag):
    listener = Listener(socket.SOCK_STREAM)
    result = box.run(hostile(tag, f"""
        import socket
        socket.create_connection(("127.0.0.1", {listener.port}), timeout=2)
    """))
    assert listener.close() == 0
    assert result.outcome == "error" and "Address family not supported" in result.message


def test_udp_datagram_does_not_leave(box, tag):
    listener = Listener(socket.SOCK_DGRAM)
    result = box.run(hostile(tag, f"""
        import socket
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", {listener.port}))
    """))
    time.sleep(0.3)
    assert listener.close() == 0
    assert result.outcome == "error" and "OSError" in result.message


def test_dns_lookup_fails(box, tag):
    result = box.run(hostile(tag, """
        import socket
        socket.getaddrinfo("example.com", 443)
    """))
    assert result.outcome == "error" and "gaierror" in result.message


def test_fork_bomb_hits_the_process_limit(box, tag):
    result = box.run(hostile(tag, """
        import os
        while True:
            os.fork()
    """), timeout=10)
    assert result.outcome == "resource_limit" and "Resource temporarily unavailable" in result.message
    assert result.duration_s < 5


def test_memory_bomb_hits_the_memory_limit(box, tag):
    result = box.run(hostile(tag, """
        hoard = []
        while True:
            hoard.append(bytearray(10 ** 7))
    """), memory_mb=256)
    assert result.outcome == "resource_limit" and result.message == "MemoryError"


def test_cpu_spin_is_stopped_at_the_wall_clock(box, tag):
    result = box.run(hostile(tag, "while True:\n    pass\n"), timeout=1)
    assert result.outcome == "timeout" and 1 <= result.duration_s < 3


def test_threads_spinning_on_every_core_are_stopped_too(box, tag):
    result = box.run(hostile(tag, """
        import threading
        def spin():
            while True:
                pass
        threads = [threading.Thread(target=spin) for _ in range(4)]
        for thread in threads:
            thread.start()
        threads[0].join()
    """), timeout=1)
    assert result.outcome == "timeout" and result.duration_s < 3


def test_unbounded_output_is_capped_and_stopped(box, tag):
    result = box.run(hostile(tag, """
        while True:
            print("x" * 1000)
    """), timeout=10, output_bytes=4096)
    assert result.outcome == "resource_limit" and "output" in result.message
    assert len(result.stdout) == 4096 and result.duration_s < 5


def test_writes_outside_the_work_directory_fail(box, tag, tmp_path):
    targets = ["/etc/pwned", "/usr/pwned", "/pwned", "/proc/sys/kernel/hostname",
               str(CHECKOUT / "pwned"), str(tmp_path / "pwned")]
    result = box.run(hostile(tag, f"""
        import os
        outcomes = {{}}
        for path in {targets!r}:
            try:
                with open(path, "w") as f:
                    f.write("pwned")
                outcomes[path] = "written"
            except OSError as exc:
                outcomes[path] = type(exc).__name__
        with open("/tmp/inside", "w") as f:  # the work directory is writable
            f.write("fine")
        print(outcomes)
    """))
    assert result.outcome == "passed", result.stderr
    outcomes = eval(result.stdout)  # noqa: S307 - the program's own repr
    assert "written" not in outcomes.values(), outcomes
    assert not any(Path(path).exists() for path in targets[:3] + targets[4:])


def test_the_environment_is_cleared(box, tag, monkeypatch):
    monkeypatch.setenv("MODELEVAL_SECRET_TOKEN", SECRET)
    result = box.run(hostile(tag, """
        import os
        print(dict(os.environ))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    print(open(f"/proc/{pid}/environ", "rb").read())
                except OSError:
                    pass
    """))
    assert result.outcome == "passed", result.stderr
    assert SECRET not in result.stdout and "MODELEVAL_SECRET_TOKEN" not in result.stdout
    assert "'HOME': '/tmp'" in result.stdout


def test_the_home_directory_is_not_visible(box, tag):
    home = str(Path.home())
    result = box.run(hostile(tag, f"""
        import os
        print(sorted(os.listdir(os.path.expanduser("~"))))
        for path in [{home!r}, "/root", "/home"]:
            print(path, os.path.exists(path))
    """))
    assert result.outcome == "passed", result.stderr
    assert result.stdout.splitlines()[0] == "[]"
    assert all(line.endswith("False") for line in result.stdout.splitlines()[1:])


def test_the_project_checkout_is_not_visible(box, tag):
    result = box.run(hostile(tag, f"""
        import os, sys
        print(os.path.exists({str(CHECKOUT)!r}), os.path.exists({str(CHECKOUT / "pyproject.toml")!r}))
        print(sys.executable, [p for p in sys.path if {str(CHECKOUT)!r} in p])
        import pytest_modeleval
    """))
    assert result.outcome == "error" and "No module named 'pytest_modeleval'" in result.message
    assert result.stdout.splitlines()[0] == "False False" and result.stdout.rstrip().endswith("[]")


def test_killing_the_parent_does_nothing(box, tag):
    harness = os.getpid()
    result = box.run(hostile(tag, f"""
        import os, signal
        for pid in (os.getppid(), 1, {harness}):
            try:
                os.kill(pid, signal.SIGKILL)
                print(pid, "signalled")
            except OSError as exc:
                print(pid, type(exc).__name__)
        try:
            os.kill(-1, signal.SIGKILL)  # everything it may signal: nothing outside its namespace
        except OSError:
            pass
    """), "assert True\n")
    assert result.outcome == "passed", result.stderr
    assert f"{harness} ProcessLookupError" in result.stdout  # the harness is not even visible


def test_ptrace_is_denied(box, tag):
    result = box.run(hostile(tag, """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())        # PTRACE_TRACEME
        print(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())       # PTRACE_ATTACH to the sandbox's init
    """))
    assert result.outcome == "passed" and result.stdout == "-1 1\n-1 1\n"


def test_setuid_and_new_namespaces_are_denied(box, tag):
    result = box.run(hostile(tag, """
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        for name, call in [("setuid", lambda: os.setuid(0)), ("setgid", lambda: os.setgid(0))]:
            try:
                call()
                print(name, "succeeded")
            except OSError:  # EINVAL: uid 0 is not even mapped in the sandbox's user namespace
                print(name, "denied")
        print("unshare", libc.unshare(0x10000000), ctypes.get_errno())  # CLONE_NEWUSER
        print("unshare-net", libc.unshare(0x40000000), ctypes.get_errno())
        done = subprocess.run(["unshare", "--user", "--map-root-user", "id", "-u"], capture_output=True)
        print("unshare(1)", done.returncode != 0, os.getuid())
    """))
    assert result.outcome == "passed", result.stderr
    assert result.stdout.splitlines() == ["setuid denied", "setgid denied", "unshare -1 1", "unshare-net -1 1",
                                          "unshare(1) True 65534"]


def test_sleeping_past_the_limit_is_a_timeout(box, tag):
    result = box.run(hostile(tag, "import time\ntime.sleep(3600)\n"), timeout=0.5)
    assert result.outcome == "timeout" and result.duration_s < 2


def test_segfault_is_a_crash_not_a_timeout(box, tag):
    result = box.run(hostile(tag, "ctypes.string_at(0)\n"), timeout=5)
    assert result.outcome == "crashed" and result.message == "killed by SIGSEGV" and result.signal == 11


def test_closing_stdout_does_not_lose_the_verdict(box, tag):
    program = hostile(tag, """
        import os, sys
        sys.stdout.close()
        os.close(1)
        os.close(2)
        def answer():
            return 42
    """)
    assert box.run(program, "assert answer() == 42\n").outcome == "passed"
    assert box.run(program, "assert answer() == 41\n").outcome == "failed"


def test_blocking_on_stdin_gets_end_of_file(box, tag):
    result = box.run(hostile(tag, """
        import sys
        data = sys.stdin.read()
    """), "assert data == ''\ninput()\n", timeout=5)
    assert result.outcome == "failed" and result.message.startswith("EOFError") and result.duration_s < 2


def test_exhausting_file_descriptors_hits_the_limit(box, tag):
    result = box.run(hostile(tag, """
        import os
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(100000)]
    """))
    assert result.outcome == "resource_limit" and "Too many open files" in result.message


def test_filling_the_disk_hits_the_file_size_limit(box, tag):
    result = box.run(hostile(tag, """
        with open("/tmp/big", "wb") as f:
            while True:
                f.write(b"x" * 2 ** 20)
    """), file_size_mb=4)
    assert result.outcome == "resource_limit" and "File too large" in result.message


def test_a_background_process_does_not_survive_the_run(box, tag):
    marker = f"{uuid.uuid4().int % 10 ** 6}.25"  # sleep's argument: unique, findable in /proc
    result = box.run(hostile(tag, f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        if os.fork() == 0:          # and a daemon the classic way
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{marker}"])
            os._exit(0)
    """), "assert True\n")
    assert result.outcome == "passed" and result.duration_s < 3, result.stderr
    survivors = [pid for pid in os.listdir("/proc") if pid.isdigit() and marker.encode() in _cmdline(pid)]
    assert not survivors


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_exiting_early_does_not_pass(box, tag):
    for exit_call in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "raise SystemExit\n"):
        result = box.run(hostile(tag, exit_call), "assert False\n")
        assert result.outcome == "failed", (exit_call, result.message)
