"""The prediction cache: one SQLite file, keyed by everything that can change an output.

`request_key` is the only place a key is built, for reads and writes alike. The key
hashes one canonical JSON document holding the engine fingerprint (model hash first,
tokenizer / chat-template hash, engine kind and version, dtype), the request kind, the
rendered prompt, the normalized sampling parameters and the sample index. Two models
therefore never share an answer, and sampled answers are cached per sample index.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable

KEY_VERSION = 1
MODES = ("readwrite", "read", "off")


def canonical_json(value) -> str:
    """Stable across processes, dict orders and platforms."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(fingerprint: dict, kind: str, request: dict, sample_index: int = 0) -> str:
    document = {"v": KEY_VERSION, "engine": fingerprint, "kind": kind, "request": request, "sample": sample_index}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    key TEXT PRIMARY KEY,
    model_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_model ON predictions (model_hash);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
"""


class PredictionCache:
    """Reads and writes predictions; `mode` read never writes, off neither reads nor writes."""

    def __init__(self, path: Path, mode: str = "readwrite"):
        if mode not in MODES:
            raise ValueError(f"cache mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self.owner = f"{os.uname().nodename}:{os.getpid()}"
        self._db: sqlite3.Connection | None = None
        if mode == "readwrite" or (mode == "read" and self.path.exists()):  # read never creates the file
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._set_up(deadline=time.monotonic() + 60)

    def _set_up(self, deadline: float) -> None:
        """WAL mode and the schema. Workers opening a new file together can get 'database is locked'
        from the journal-mode switch at once (SQLite skips the busy timeout there): retry until the deadline."""
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def readable(self) -> bool:
        return self._db is not None

    @property
    def writable(self) -> bool:
        return self._db is not None and self.mode == "readwrite"

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """{key: {"value", "prompt_tokens", "completion_tokens", "created_at"}} for the keys present."""
        if self._db is None:
            return {}
        keys = list(keys)
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value, p_tokens, c_tokens, created in self._db.execute(
                    "SELECT key, value, prompt_tokens, completion_tokens, created_at FROM predictions "
                    f"WHERE key IN ({marks})", chunk):
                found[key] = {"value": json.loads(value), "prompt_tokens": p_tokens, "completion_tokens": c_tokens,
                              "created_at": created}
        return found

    def put_many(self, model_hash: str, kind: str, rows: Iterable[tuple[str, object, int, int]]) -> None:
        """Write one batch in one transaction: an interrupted run loses at most the batch in flight."""
        if not self.writable:
            return
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(key, model_hash, kind, canonical_json(value), p, c, now) for key, value, p, c in rows])
            self._db.executemany("DELETE FROM claims WHERE key = ?", [(key,) for key, *_ in rows])

    # --- claims: which pytest-xdist worker computes which prediction ---------------------------
    def claim(self, keys: list[str], stale_after: float = 600.0) -> list[str]:
        """The keys this process now owns; a claim older than `stale_after` seconds is taken over."""
        if not self.writable:
            return list(keys)
        now = time.time()
        with self._transaction():
            self._db.execute("DELETE FROM claims WHERE claimed_at < ?", (now - stale_after,))
            self._drop_dead_owners()
            self._db.executemany("INSERT OR IGNORE INTO claims VALUES (?, ?, ?)",
                                 [(key, self.owner, now) for key in keys])
            owned = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                owned.update(k for (k,) in self._db.execute(
                    f"SELECT key FROM claims WHERE owner = ? AND key IN ({marks})", [self.owner, *chunk]))
        return [key for key in keys if key in owned]

    def _drop_dead_owners(self) -> None:
        """Claims of processes on this machine that no longer exist (a killed run) are free at once."""
        host = f"{os.uname().nodename}:"
        for (owner,) in self._db.execute("SELECT DISTINCT owner FROM claims WHERE owner LIKE ?", (host + "%",)):
            pid = owner[len(host):]
            if pid.isdigit() and not _alive(int(pid)):
                self._db.execute("DELETE FROM claims WHERE owner = ?", (owner,))

    def release(self, keys: list[str]) -> None:
        """Give back claims of predictions this process did not finish (an engine error)."""
        if self.writable and keys:
            with self._transaction():
                self._db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?",
                                     [(key, self.owner) for key in keys])

    # --- maintenance -------------------------------------------------------------------------------
    def stats(self) -> list[dict]:
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT model_hash, kind, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
            "SUM(LENGTH(value)), MIN(created_at), MAX(created_at) FROM predictions GROUP BY model_hash, kind "
            "ORDER BY model_hash, kind").fetchall()
        names = ("model_hash", "kind", "predictions", "prompt_tokens", "completion_tokens", "bytes",
                 "oldest", "newest")
        return [dict(zip(names, row)) for row in rows]

    def prune(self, *, model_prefix: str | None = None, older_than_days: float | None = None) -> int:
        """Delete predictions of one model (hash prefix) and/or older than N days; returns the count."""
        clauses, params = [], []
        if model_prefix:
            clauses.append("model_hash LIKE ?")
            params.append(model_prefix.removeprefix("sha256:") + "%")
        if older_than_days is not None:
            clauses.append("created_at < ?")
            params.append(time.time() - older_than_days * 86400)
        where = " AND ".join(clauses) if clauses else "1"
        with self._transaction():
            deleted = self._db.execute(f"DELETE FROM predictions WHERE {where}", params).rowcount
        self._db.execute("VACUUM")
        return deleted

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _transaction(self):
        return _Transaction(self._db)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so concurrent workers queue, not fail."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
