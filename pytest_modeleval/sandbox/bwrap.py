"""The default backend: bubblewrap namespaces + a seccomp deny-list + the runner's rlimits. No daemon.

The program sees a read-only root holding the system directories (read-only), a fresh
/proc and /dev, and a size-limited tmpfs at /tmp as its work and home directory. No
network (an empty network namespace), no host processes (pid namespace), no checkout,
no home directory, no environment beyond a few fixed variables, no capabilities, and
no way to make namespaces of its own. Run as root, bwrap itself is started as the
unprivileged user 65534: RLIMIT_NPROC never binds uid 0, so a fork bomb would otherwise
go unchecked.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
from functools import lru_cache

from . import seccomp
from .capture import Capture
from .limits import MIB, Limits
from .outcome import Ending
from .process import run_process

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache",)
PYTHON_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")
UNPRIVILEGED = 65534  # "nobody": the uid bwrap runs as when the harness is root, and the uid inside
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
       "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


class BwrapUnavailable(RuntimeError):
    """bwrap or a usable interpreter is missing; the message says what to install or pass."""


def find_bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise BwrapUnavailable("bubblewrap is not installed (no `bwrap` on PATH); install it "
                               "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; "
                               "or run scripts/install.sh)")
    return path


def system_python(python: str | None = None) -> str:
    """The interpreter run inside: given, or the system's python3. Never the project's venv, which lives in
    the checkout the sandbox hides."""
    candidates = (python,) if python else PYTHON_CANDIDATES
    for path in candidates:
        if not os.path.isabs(path):
            raise BwrapUnavailable(f"sandbox python must be an absolute path, got {path!r}")
        if not path.startswith(tuple(d + "/" for d in SYSTEM_DIRS)):
            raise BwrapUnavailable(f"sandbox python {path} is outside the directories the sandbox mounts "
                                   f"({', '.join(SYSTEM_DIRS)}); pass an interpreter installed under /usr")
        if os.access(path, os.X_OK):
            return path
    raise BwrapUnavailable(f"no system python3 found ({' or '.join(candidates)}); install python3 "
                           f"(apt-get install python3) or pass the path of one under /usr")


@lru_cache(maxsize=None)
def bwrap_version(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(part) for part in match.groups(default="0")) if match else ()


class BwrapBackend:
    name = "bwrap"
    rlimit_nproc = True  # counted per user namespace, so per sandbox

    def __init__(self, python: str | None = None):
        self.bwrap = find_bwrap()
        self.python = system_python(python)
        self.version = bwrap_version(self.bwrap)
        self.filter = seccomp.filter_program()  # SeccompUnsupported on an architecture without a table

    def describe(self) -> str:
        return f"bwrap {'.'.join(map(str, self.version)) or '(unknown version)'}"

    def argv(self, limits: Limits, seccomp_fd: int, info_fd: int, runner: str) -> list[str]:
        args = [self.bwrap, "--info-fd", str(info_fd), "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--uid", str(UNPRIVILEGED), "--gid", str(UNPRIVILEGED),
                "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
        if self.version >= (0, 8):
            args.append("--disable-userns")  # seccomp refuses unshare / CLONE_NEWUSER in any case
        for name, value in ENV.items():
            args += ["--setenv", name, value]
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in SYSTEM_FILES:
            args += ["--ro-bind-try", path, path]
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(limits.workdir_mb * MIB), "--perms", "0700", "--tmpfs", "/tmp",
                 "--remount-ro", "/", "--chdir", "/tmp", "--seccomp", str(seccomp_fd),
                 "--", self.python, "-s", "-B", "-c", runner]
        return args

    def run(self, payload: bytes, nonce: str, limits: Limits, runner: str) -> Ending:
        seccomp_fd = os.memfd_create("modeleval-seccomp", os.MFD_CLOEXEC)
        info_read, info_write = os.pipe()
        open_fds = {seccomp_fd, info_read, info_write}

        def close(fd: int) -> None:
            if fd in open_fds:
                open_fds.discard(fd)
                os.close(fd)

        watch = InitWatch()
        try:
            os.write(seccomp_fd, self.filter)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            argv = self.argv(limits, seccomp_fd, info_write, runner)
            return run_process(argv, payload, nonce, limits.timeout,
                               Capture(limits.output_bytes, limits.max_output_bytes), env={},
                               pass_fds=(seccomp_fd, info_write), user=UNPRIVILEGED if os.geteuid() == 0 else None,
                               side=(info_read, watch.started), after_spawn=lambda: close(info_write),
                               settle=watch.wait)
        finally:
            for fd in list(open_fds):
                close(fd)


class InitWatch:
    """Waits for the sandbox's init to be gone, which the kernel allows only once every process in its pid
    namespace has been killed and reaped. bwrap itself exits as soon as the program does, a moment before."""

    def __init__(self):
        self.pidfd: int | None = None

    def started(self, info: bytes) -> None:
        """bwrap's --info-fd report, read while init is alive: hold on to init with a pidfd."""
        try:
            self.pidfd = os.pidfd_open(json.loads(info)["child-pid"])
        except (ValueError, KeyError, TypeError, OSError):  # no report (bwrap failed first) or init already gone
            self.pidfd = None

    def wait(self, limit: float = 10.0) -> None:
        if self.pidfd is not None:
            try:
                select.select([self.pidfd], [], [], limit)
            finally:
                os.close(self.pidfd)
                self.pidfd = None
