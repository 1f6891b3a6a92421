"""Which processes a test's subprocess left behind: it runs with a tag in its environment, which every process
it starts inherits, so whatever still carries the tag after it ended outlived it."""

from __future__ import annotations

import os
import uuid

TAG = "MODELEVAL_TEST_TAG"


def tagged_env() -> tuple[str, dict]:
    """A new tag, and this process's environment with it."""
    tag = uuid.uuid4().hex
    return tag, {**os.environ, TAG: tag}


GRACE_S = 10.0  # a helper that exits when its parent's pipe closes (multiprocessing's resource tracker) may take a
# moment after the parent has returned; what is still alive after this outlived the run


def left_behind(tag: str, grace_s: float = GRACE_S) -> list[str]:
    """'pid name' of every process whose environment carries the tag and that is still alive after `grace_s`."""
    import time

    deadline = time.monotonic() + grace_s
    while True:
        alive = _tagged(tag)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def _tagged(tag: str) -> list[str]:
    import psutil

    alive = []
    for process in psutil.process_iter(["name", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and process.environ().get(TAG) == tag:
                alive.append(f"{process.pid} {process.info['name']}")
        except (psutil.Error, OSError):
            continue
    return alive
