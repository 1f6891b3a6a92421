"""The limits one run gets, and the hard rlimits the runner sets before any untrusted code runs.

Hard and soft limits are set together: without CAP_SYS_RESOURCE in the host's user
namespace (the sandbox has no capabilities at all) a process can lower a hard limit
but never raise it again.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Memory, CPU and file size are per process; `processes` bounds how many there are."""

    timeout: float = 10.0        # wall-clock seconds; the whole sandbox is killed at this point
    memory_mb: int = 512         # address space of each process (RLIMIT_AS)
    processes: int = 16          # processes and threads of the sandbox's user (RLIMIT_NPROC)
    file_size_mb: int = 16       # largest file a process may write (RLIMIT_FSIZE)
    open_files: int = 64         # open file descriptors per process (RLIMIT_NOFILE)
    workdir_mb: int = 64         # size of the tmpfs work directory (bwrap) / tmpfs (Docker)
    output_bytes: int = 64 * 1024       # captured stdout and stderr each keep their first N bytes
    max_output_bytes: int = 8 * MIB     # writing more than this in all is a resource_limit

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {value!r}")
        if self.max_output_bytes < self.output_bytes:
            raise ValueError(f"sandbox limit max_output_bytes ({self.max_output_bytes}) must be at least "
                             f"output_bytes ({self.output_bytes})")

    @property
    def cpu_seconds(self) -> int:
        """CPU time per process: one second past the wall clock, so a single busy process meets the wall
        clock first and a multi-threaded spin is still stopped (SIGXCPU, reported as timeout)."""
        return math.ceil(self.timeout) + 1

    def rlimits(self, *, nproc: bool = True) -> list[tuple[str, int, int]]:
        """(resource name, soft, hard) for the runner. `nproc=False` where a pids cgroup counts instead."""
        table = [
            ("RLIMIT_CORE", 0, 0),
            ("RLIMIT_CPU", self.cpu_seconds, self.cpu_seconds + 1),  # soft: SIGXCPU, hard: SIGKILL
            ("RLIMIT_AS", self.memory_mb * MIB, self.memory_mb * MIB),
            ("RLIMIT_FSIZE", self.file_size_mb * MIB, self.file_size_mb * MIB),
            ("RLIMIT_NOFILE", self.open_files, self.open_files),
        ]
        if nproc:
            table.append(("RLIMIT_NPROC", self.processes, self.processes))
        return table
