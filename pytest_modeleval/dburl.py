"""A results or cache DB named by a path or by a URL, said safely.

`--eval-db` and `--eval-cache-db` take either a file path (SQLite, the embedded default) or a URL
(`postgresql://user:password@host:port/dbname`, or `sqlite:///path`), or a libpq keyword string
(`host=db user=ci password=... dbname=evals`), which `normalize` turns into the PostgreSQL URL it
means. A URL or keyword string is never taken for a path, and a password never reaches a message, a
log line or the `runs` row in any of its forms (URL userinfo, a `?password=` query parameter, a
keyword string's `password=`): `redact` and `redact_text` are the only ways to say one.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
BACKENDS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "postgresql+psycopg": "postgresql+psycopg", "sqlite": "sqlite"}


class DatabaseURLError(ValueError):
    """A DB URL this project cannot use; the message names it without its password."""


def is_url(text: str) -> bool:
    return bool(_URL.match(str(text)))


# libpq's connection keywords (https://www.postgresql.org/docs/current/libpq-connect.html): a text made
# only of KEY=VALUE pairs, one of them among these, is a keyword connection string
_LIBPQ_KEYS = {"host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service", "sslmode",
               "connect_timeout", "application_name", "options", "sslrootcert", "sslcert", "sslkey",
               "sslpassword", "target_session_attrs", "channel_binding", "gssencmode", "krbsrvname"}
_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")
# a secret given as KEY=VALUE anywhere: a URL's query parameter, a keyword string, a message quoting either
_SECRET = re.compile(r"(?i)(?<![\w.-])((?:ssl)?password|passwd|pwd|api_?key|secret)(\s*=\s*)"
                     r"('(?:[^'\\]|\\.)*'|[^\s&'\";,)]+)")


def _keyword_pairs(text: str) -> list[tuple[str, str]] | None:
    """The (key, value) pairs of a libpq keyword string, or None when the text is not one."""
    pairs, pos = [], 0
    text = str(text).strip()
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None or match.end() == pos:
            return None
        value = match.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((match.group(1).lower(), value))
        pos = match.end()
    return pairs if pairs and any(key in _LIBPQ_KEYS for key, _ in pairs) else None


def is_keywords(text: str) -> bool:
    """Whether the text is a libpq keyword connection string (host=... dbname=...)."""
    return not is_url(str(text)) and _keyword_pairs(str(text)) is not None


def normalize(target: str) -> str:
    """A libpq keyword string as the postgresql:// URL it means; anything else unchanged."""
    pairs = _keyword_pairs(str(target)) if is_keywords(str(target)) else None
    if pairs is None:
        return target
    values = dict(pairs)
    user, password = values.pop("user", ""), values.pop("password", None)
    host, port, dbname = values.pop("host", ""), values.pop("port", ""), values.pop("dbname", "")
    if "/" in host:  # a Unix socket directory goes in the query, as libpq takes it there
        values["host"], host = host, ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
    netloc = (auth + "@" if auth else "") + (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    query = urlencode(values)
    return f"postgresql://{netloc}/{quote(dbname, safe='')}" + (f"?{query}" if query else "")


def redact(url: str) -> str:
    """The DB target with its password replaced by ***, in whichever form it came (URL userinfo, a
    password query parameter, a keyword string); anything else is returned as is."""
    text = str(url)
    if not is_url(text):
        return _SECRET.sub(r"\1\2***", text) if is_keywords(text) else text
    parts = urlsplit(text)
    query = "&".join(f"{key}={'***' if _SECRET.match(f'{key}=x') else quote(value, safe='/:')}"
                     for key, value in parse_qsl(parts.query, keep_blank_values=True)) if parts.query else ""
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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
    """Any text (a command line, a message) with every password in it replaced by ***: a URL's userinfo,
    and any password=, pwd=, api_key= or secret= (a query parameter, a keyword string)."""
    return _SECRET.sub(r"\1\2***", _CREDENTIALS.sub(r"\1***\3", str(text)))


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
