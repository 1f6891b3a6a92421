"""GitHub Actions workflow commands: the `::error` lines that put a failed gate on the job page and the PR diff.

The runner reads a line of the step's output that starts with `::error ...::` as an annotation. Its message and
its properties are escaped as GitHub's workflow-command docs say (`%`, CR and LF in both; `:` and `,` in a
property too), so a gate's message cannot end the line early or forge a second command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def escape_data(value: str) -> str:
    """An annotation's message: `%`, CR and LF percent-encoded (the `%` first)."""
    return str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A property's value (`file=`, `title=`): as a message, and `:` and `,`, which end a property."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str | None = None, title: str | None = None) -> str:
    """`::error file=PATH,title=TITLE::MESSAGE` (level: error, warning or notice)."""
    props = [f"{name}={escape_property(value)}" for name, value in (("file", file), ("title", title)) if value]
    return f"::{level}{' ' + ','.join(props) if props else ''}::{escape_data(message)}"


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    """The runner sets GITHUB_ACTIONS=true in every step; annotations mean nothing anywhere else."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def workflow_run_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The page of the workflow run this step belongs to (its artifacts are listed there), or None outside one."""
    env = os.environ if environ is None else environ
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (server and repo and run):
        return None
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
