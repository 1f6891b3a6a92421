"""A results or cache DB named by a path or by a URL, said safely.

`--eval-db` and `--eval-cache-db` take either a file path (SQLite, the embedded default) or a URL
(`postgresql://user:password@host:port/dbname`, or `sqlite:///path`). A URL is never taken for a path,
and a password never reaches a message, a log line or the `runs` row: `redact` is the only way to say one.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
BACKENDS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "postgresql+psycopg": "postgresql+psycopg", "sqlite": "sqlite"}


class DatabaseURLError(ValueError):
    """A DB URL this project cannot use; the message names it without its password."""


def is_url(text: str) -> bool:
    return bool(_URL.match(str(text)))


def redact(url: str) -> str:
    """The URL with its password replaced by ***; anything that is not a URL is returned as is."""
    text = str(url)
    if not is_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def backend(url: str, what: str = "--eval-db") -> str:
    """The SQLAlchemy driver name for a URL ("postgresql+psycopg" or "sqlite"), or a clear error."""
    scheme = str(url).split("://", 1)[0].lower()
    if scheme not in BACKENDS:
        raise DatabaseURLError(f"{what} {redact(url)}: unsupported database {scheme!r} "
                               f"(use a file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME)")
    return BACKENDS[scheme]


def sqlalchemy_url(url: str, what: str = "--eval-db") -> str:
    """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
    driver = backend(url, what)
    return driver + "://" + str(url).split("://", 1)[1]


_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)(@)")


def redact_text(text: str) -> str:
    """Any text (a command line, a message) with the password of every URL in it replaced by ***."""
    return _CREDENTIALS.sub(r"\1***\3", str(text))


def local_path(target, what: str = "--eval-db"):
    """The file of a SQLite DB (a path, or a sqlite:///PATH URL); None for a server's URL."""
    from pathlib import Path

    text = str(target)
    if not is_url(text):
        return Path(target)
    if backend(text, what) != "sqlite":
        return None
    if not text.startswith("sqlite:///"):
        raise DatabaseURLError(f"{what} {redact(text)}: use sqlite:///PATH (a file) for SQLite")
    return Path(text[len("sqlite:///"):] or ":memory:")
