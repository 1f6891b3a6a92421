"""What makes a run reproducible, gathered without importing the heavy libraries."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .dburl import redact_text


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding the suites, or (None, None) outside git."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), bool(status and status.strip())


def machine() -> str:
    return f"{platform.node()} {platform.system()} {platform.machine()} {os.cpu_count()} cpus"


def environment(rootdir: Path, args: list[str]) -> dict:
    """Versions, git state and machine for the runs table."""
    commit, dirty = git_state(rootdir)
    return {
        "harness_version": package_version("pytest-modeleval"),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "pytest": package_version("pytest"),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "machine": machine(),
        "command": redact_text(" ".join(["pytest", *args])),  # a DB URL's password is never stored
    }


# CI variables that name one pipeline / workflow run, shared by all its shard jobs (first found wins)
CI_GROUP_VARIABLES = ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID", "BUILD_TAG")


def ci_group_id() -> str | None:
    """The CI's id of this pipeline run (GitHub's with its attempt, so a re-run is a new group)."""
    for name in CI_GROUP_VARIABLES:
        value = os.environ.get(name)
        if value:
            if name == "GITHUB_RUN_ID" and os.environ.get("GITHUB_RUN_ATTEMPT"):
                value += "-" + os.environ["GITHUB_RUN_ATTEMPT"]
            return value
    return None
