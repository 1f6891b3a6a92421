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


def left_behind(tag: str) -> list[str]:
    """'pid name' of every process still alive whose environment carries the tag."""
    import psutil

    alive = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.environ().get(TAG) == tag:
                alive.append(f"{process.pid} {process.info['name']}")
        except (psutil.Error, OSError):
            continue
    return alive
