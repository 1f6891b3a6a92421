"""The Docker backend (docker SDK): the same runner and outcomes as bwrap, in a locked-down container.

Network none, read-only root, a size-limited tmpfs at /tmp, memory and pids cgroup limits,
no capabilities, no-new-privileges, the same deny-list as an inline seccomp profile, an
unprivileged user, and optionally runtime="runsc" (gVisor). The image must already be
present: nothing is pulled at run time. Slower than bwrap (a container per run) and it
needs a daemon; use it where bubblewrap cannot run or gVisor is wanted.
"""

from __future__ import annotations

import json
import socket
import threading

from . import seccomp
from .bwrap import ENV, UNPRIVILEGED
from .capture import Capture
from .limits import MIB, Limits
from .outcome import Ending, split_status

_STREAMS = {1: "stdout", 2: "stderr"}


def seccomp_profile() -> str:
    """seccomp.DENIED as a Docker profile: allow by default, refuse the same calls with the same errnos."""
    rules = [{"names": list(seccomp.DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
             {"names": list(seccomp.SOCKET_CALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
              "args": [{"index": 0, "value": seccomp.AF_UNIX, "op": "SCMP_CMP_NE"}]},
             {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    flags = seccomp.CLONE_NAMESPACE_FLAGS
    for bit in (1 << n for n in range(32) if flags >> n & 1):  # rules for one call are OR'ed: one per flag
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}]})
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})


def container_options(image: str, runtime: str | None, limits: Limits, runner: str) -> dict:
    """The keyword arguments for containers.create: everything that isolates and limits the run."""
    options = dict(
        image=image, command=["python3", "-s", "-B", "-c", runner], user=f"{UNPRIVILEGED}:{UNPRIVILEGED}",
        environment=ENV, working_dir="/tmp", stdin_open=True, stdin_once=True, network_mode="none",
        read_only=True, tmpfs={"/tmp": f"size={limits.workdir_mb * MIB},mode=1777"},
        mem_limit=limits.memory_mb * MIB, memswap_limit=limits.memory_mb * MIB, pids_limit=limits.processes,
        cap_drop=["ALL"], security_opt=["no-new-privileges", f"seccomp={seccomp_profile()}"], ipc_mode="none",
        log_config={"type": "none"},
    )
    if runtime:
        options["runtime"] = runtime
    return options


class DockerBackend:
    name = "docker"
    rlimit_nproc = False  # uids are shared with the host's: pids_limit counts per container instead

    def __init__(self, image: str, runtime: str | None = None):
        try:
            import docker
        except ImportError:
            raise RuntimeError("the docker SDK is not installed (pip install 'pytest-modeleval[docker]')") from None
        try:
            self.client = docker.from_env(timeout=30)
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means: no engine to talk to
            raise RuntimeError(f"no Docker engine answers ({exc}); start one or set DOCKER_HOST") from None
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise RuntimeError(f"the Docker image {image} is not present; run `docker pull {image}` "
                               f"(nothing is pulled at run time)") from None
        self.image, self.runtime = image, runtime
        if runtime:
            self.name = f"docker/{runtime}"

    def describe(self) -> str:
        return f"docker {self.image}" + (f" runtime={self.runtime}" if self.runtime else "")

    def run(self, payload: bytes, nonce: str, limits: Limits, runner: str) -> Ending:
        capture = Capture(limits.output_bytes, limits.max_output_bytes)
        try:
            container = self.client.containers.create(**container_options(self.image, self.runtime, limits, runner))
        except Exception as exc:  # noqa: BLE001
            return Ending(started=False, verdict=None, launch_error=f"docker could not create the container: {exc}")
        try:
            return self._run(container, payload, nonce, limits, capture)
        finally:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

    def _run(self, container, payload: bytes, nonce: str, limits: Limits, capture: Capture) -> Ending:
        from docker.utils.socket import frames_iter

        exceeded = threading.Event()
        try:
            sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw = getattr(sock, "_sock", sock)
            container.start()
            raw.sendall(payload)
            raw.shutdown(socket.SHUT_WR)
        except Exception as exc:  # noqa: BLE001
            return Ending(started=False, verdict=None, launch_error=f"docker could not start the container: {exc}")

        def read():
            try:
                for stream, data in frames_iter(sock, tty=False):
                    capture.add(_STREAMS.get(stream, "stderr"), data)
                    if capture.exceeded:
                        exceeded.set()
                        container.kill()
                        return
            except Exception:  # noqa: BLE001 - the container went away
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        timed_out = False
        try:
            status = container.wait(timeout=limits.timeout)["StatusCode"]
        except Exception:  # noqa: BLE001 - the wall clock (requests' read timeout)
            timed_out = True
            container.kill()
            status = container.wait(timeout=30)["StatusCode"]
        reader.join(timeout=5)
        sock.close()
        container.reload()
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        returncode, sig = split_status(status, shell_style=True)
        return Ending(started=capture.started(nonce), verdict=capture.verdict(nonce), returncode=returncode,
                      signal=sig, timed_out=timed_out and not exceeded.is_set(), output_exceeded=exceeded.is_set(),
                      oom_killed=oom, stdout=capture.text("stdout", nonce), stderr=capture.text("stderr", nonce))
