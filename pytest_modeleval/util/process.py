"""Whether a process still runs: the prediction cache's claims and the watcher's leases both ask."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process runs; a zombie (dead, not yet reaped: an orphan where nothing reaps) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)
    return state not in ("Z", "X")
