"""What the subcommands share: the project read once, finding the DB, naming a run, reporting a bad argument."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from ..paths import RESULTS_DB

DEFAULT_DB = RESULTS_DB.as_posix()  # relative to the directory the command runs in

# The projects this command has read, by pyproject.toml path: one command is one read (`project`).
_projects: dict = {}


class CLIError(Exception):
    """A bad argument or a refusal; printed as one line, exit status 2 (1 for a refusal)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def add_db_argument(parser) -> None:
    parser.add_argument("--db", help="results database, a path or a postgresql:// URL (default: MODELEVAL_DB, "
                                     f"else `db` in [tool.modeleval] of ./pyproject.toml, else {DEFAULT_DB})")


def command(name: str):
    """Wrap a subcommand's run function: expected errors become one line on stderr and an exit status."""
    def wrap(func):
        @functools.wraps(func)
        def run(args) -> int:
            from ..config import ConfigError
            from ..gates.baseline import BaselineError
            from ..results.db import DatabaseError

            begin()
            try:
                return func(args) or 0
            except CLIError as exc:
                print(f"modeleval {name}: {exc}", file=sys.stderr)
                return exc.status
            except (ConfigError, BaselineError, DatabaseError) as exc:
                print(f"modeleval {name}: {exc}", file=sys.stderr)
                return 2
        return run
    return wrap


def begin() -> None:
    """A new command starts: forget the project an earlier one read (`main` and `command` call this)."""
    _projects.clear()


def project():
    """This directory's project (config.Project): its pyproject.toml is read on first use and the same object
    is handed to everything else the command asks (the settings, the gate rules, retention, promotion).

    A file that is not valid TOML is a ConfigError each time it is asked for (nothing is kept)."""
    from ..config import Project

    path = Path.cwd() / "pyproject.toml"
    if path not in _projects:
        _projects[path] = Project.read(path)
    return _projects[path]


def settings(read=None):
    """The project's settings as pytest would see them from this directory (`read`: the project already read)."""
    from ..config import build_settings

    cwd = Path.cwd()
    return build_settings({}, read if read is not None else project(), cwd, cwd)


def db_path(args):
    """The results DB the command names: a Path, or a URL (str) for a server."""
    from ..dburl import DatabaseURLError, backend, is_url, normalize

    text = getattr(args, "db", None)
    if not text:
        return settings().db
    text = normalize(text)  # a libpq keyword string is PostgreSQL, never a file's name
    if is_url(text):
        try:
            backend(text, "--db")
        except DatabaseURLError as exc:
            raise CLIError(str(exc)) from None
        return text
    return Path(text)


def open_store(args, *, create: bool = False):
    """The results DB; an error when it does not exist (reading commands never create one)."""
    from ..dburl import redact
    from ..results.db import DatabaseError, exists
    from ..results.store import Store

    target = db_path(args)
    try:
        if not create and not exists(target):
            raise CLIError(f"results database {redact(str(target))} does not exist "
                           f"(a pytest run with --model creates it)")
        return Store(target)
    except DatabaseError as exc:
        raise CLIError(str(exc)) from None


def run_id(db, text: str) -> int:
    """A run named as N, run:N, `latest`, or sha256:<prefix> (that model's newest run)."""
    from ..gates.baseline import model_hash_for
    from ..results import runs

    text = str(text).strip()
    if text == "latest":
        newest = runs.newest_id(db)
        if newest is None:
            raise CLIError("the results database holds no runs")
        return newest
    if text.startswith("sha256:"):
        return runs.newest_id(db, model_hash=model_hash_for(db, text, f"run {text}"))
    number = text.removeprefix("run:")
    if not number.isdigit():
        raise CLIError(f"{text!r} is not a run (expected N, run:N, latest or sha256:<prefix>)")
    if runs.run(db, int(number)) is None:
        raise CLIError(f"there is no run {number} (runs go up to {runs.newest_id(db)})")
    return int(number)
