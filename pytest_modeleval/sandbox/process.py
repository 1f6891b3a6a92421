"""One local process under a wall clock: payload in on stdin, capped output out, the whole group killed at the end.

Shared by the bwrap backend and the unsafe no-isolation mode. The process is started in
a new session, so killing its process group at the deadline takes every process it
started with it (under bwrap, --die-with-parent and the pid namespace take the rest).
A backend that must see more can pass a side channel (a pipe read to its end, handed to
a callback), a step right after the spawn, and a `settle` step that runs once the
process is gone, before the result.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from typing import Callable

from .capture import Capture
from .outcome import Ending, split_status

CHUNK = 65536


def run_process(argv: list[str], payload: bytes, nonce: str, timeout: float, capture: Capture, *,
                env: dict[str, str] | None = None, cwd: str | None = None, pass_fds: tuple[int, ...] = (),
                user: int | None = None, shell_style_status: bool = True,
                side: tuple[int, Callable[[bytes], None]] | None = None,
                after_spawn: Callable[[], None] | None = None, settle: Callable[[], None] | None = None) -> Ending:
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, pass_fds=pass_fds, start_new_session=True, close_fds=True,
                                user=user, group=user, extra_groups=[] if user is not None else None)
    except OSError as exc:
        return Ending(started=False, verdict=None, launch_error=f"cannot start {argv[0]}: {exc}")
    if after_spawn is not None:
        after_spawn()  # e.g. close the parent's copy of a pipe's write end, so its reader sees EOF
    deadline = time.monotonic() + timeout
    timed_out = exceeded = False
    try:
        timed_out, exceeded = _pump(proc, payload, capture, deadline, side)
    finally:
        if timed_out or exceeded or proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
        if settle is not None:
            settle()
    returncode, sig = split_status(proc.returncode, shell_style=shell_style_status)
    return Ending(started=capture.started(nonce), verdict=capture.verdict(nonce), returncode=returncode,
                  signal=sig, timed_out=timed_out, output_exceeded=exceeded,
                  stdout=capture.text("stdout", nonce), stderr=capture.text("stderr", nonce))


def _pump(proc: subprocess.Popen, payload: bytes, capture: Capture, deadline: float,
          side: tuple[int, Callable[[bytes], None]] | None) -> tuple[bool, bool]:
    """Feed stdin and drain stdout / stderr until both close; (timed out, output exceeded)."""
    with selectors.DefaultSelector() as selector:
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ, name)
        os.set_blocking(proc.stdin.fileno(), False)
        selector.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
        side_data = bytearray()
        if side is not None:
            selector.register(side[0], selectors.EVENT_READ, "side")
        view, readers = memoryview(payload), 2
        while readers:
            left = deadline - time.monotonic()
            if left <= 0:
                return True, False
            for key, _ in selector.select(left):
                if key.data == "stdin":
                    try:
                        view = view[os.write(proc.stdin.fileno(), view[:CHUNK]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it stopped reading: whatever it reports says why
                        view = view[:0]
                    if not view:
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, CHUNK)
                if key.data == "side":
                    side_data += data
                    if not data:
                        selector.unregister(key.fd)
                        side[1](bytes(side_data))
                    continue
                if not data:
                    selector.unregister(key.fileobj)
                    readers -= 1
                    continue
                capture.add(key.data, data)
                if capture.exceeded:
                    return False, True
    left = deadline - time.monotonic()
    try:
        proc.wait(max(left, 0))
    except subprocess.TimeoutExpired:
        return True, False
    return False, False


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
