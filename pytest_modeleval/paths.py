"""Where the plugin and the `modeleval` command keep their state: the one home of the default paths.

Two kinds, decided here so that every module agrees:

- the project's own state, relative to the project (the pytest rootdir, or the directory a command
  runs in): the results DB, the prediction cache, the overrides file, the audit records;
- machine-local state (hash cache, converted weights, lm-eval's task index), per user, which tests
  redirect with MODELEVAL_CACHE_DIR instead of touching the user's home.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = Path(".modeleval")  # the project's state directory, relative to the project
RESULTS_DB = STATE_DIR / "results.sqlite"  # --eval-db, `modeleval ... --db`
CACHE_DB = STATE_DIR / "cache.sqlite"  # --eval-cache-db, `modeleval cache --db`
AUDITS_DIR = STATE_DIR / "audits"  # audit records when neither the registry nor a DB file gives a place
OVERRIDES_FILE = Path("modeleval-overrides.toml")  # --eval-overrides, `modeleval gate|promote --overrides`


def cache_dir() -> Path:
    """The per-user cache directory: MODELEVAL_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache."""
    explicit = os.environ.get("MODELEVAL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-modeleval"
