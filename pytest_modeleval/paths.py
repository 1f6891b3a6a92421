"""Where the plugin keeps machine-local state (hash cache, converted weights).

One place decides it so every module agrees, and tests can redirect it with
MODELEVAL_CACHE_DIR instead of touching the user's home.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The per-user cache directory: MODELEVAL_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache."""
    explicit = os.environ.get("MODELEVAL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-modeleval"
