"""The prediction cache: one DB (a SQLite file, or PostgreSQL for a team), keyed by everything
that can change an output.

`request_key` is the only place a key is built, for reads and writes alike. The key
hashes one canonical JSON document holding the engine fingerprint (model hash first,
tokenizer / chat-template hash, engine kind and version, dtype), the request kind, the
rendered prompt, the normalized sampling parameters and the sample index. Two models
therefore never share an answer, and sampled answers are cached per sample index.

The tables are schema.py's (SQLAlchemy Core, the same on both backends); reads and
writes go in batches (1,000 keys a round trip on SQLite, 5,000 on PostgreSQL), never one per key. A write that loses its connection is
retried on a new one; if the DB stays unreachable the error names it, without its password.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Iterable, cast
from urllib.parse import urlsplit

import sqlalchemy as sa

from ... import dburl
from . import engine as cache_engine
from . import migrate as cache_migrate
from .claims import LeasedClaims, LocalClaims, chunks, insert_for
from .schema import prediction_claims as claims
from .schema import predictions

KEY_VERSION = 1
MODES = ("readwrite", "read", "off")
DEFAULT_LEASE_S = 60.0
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)  # then the error is reported


def canonical_json(value) -> str:
    """Stable across processes, dict orders and platforms."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(fingerprint: dict, kind: str, request: dict, sample_index: int = 0) -> str:
    document = {"v": KEY_VERSION, "engine": fingerprint, "kind": kind, "request": request, "sample": sample_index}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


class CacheError(RuntimeError):
    """The cache DB failed (unreachable, refused); the message names it without its password."""


class PredictionCache:
    """Reads and writes predictions; `mode` read never writes, off neither reads nor writes.

    `target` is a path (SQLite) or a URL (postgresql://..., sqlite:///PATH)."""

    def __init__(self, target, mode: str = "readwrite", lease_s: float = DEFAULT_LEASE_S):
        if mode not in MODES:
            raise ValueError(f"cache mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.target = target
        self.name = dburl.redact(str(target))
        self.path = dburl.local_path(target, "--eval-cache-db")  # None on a server
        self.mode = mode
        self._engine: sa.Engine | None = None
        if mode == "off" or (mode == "read" and self.path is not None and not self.path.exists()):
            self._claims = None  # read never creates the file
            return
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        engine = cache_engine.create(target)
        self.backend = engine.dialect.name
        self._claims = LocalClaims(time.time) if self.backend == "sqlite" else LeasedClaims(engine, lease_s)
        try:
            self._open(engine)
        except _NothingCached:
            engine.dispose()
            return
        except Exception:
            engine.dispose()
            raise
        self._engine = engine

    def _open(self, engine: sa.Engine) -> None:
        try:
            if self.mode == "readwrite":
                cache_migrate.ensure_head(engine, self.name)
                return
            with engine.connect() as conn:  # read: use what is there, create nothing
                revision = cache_migrate.current_revision(conn)
            cache_migrate.check_known(revision, self.name)
            if revision is None:
                raise _NothingCached
        except sa.exc.DBAPIError as exc:
            raise CacheError(f"prediction cache {self.name}: cannot open it: {_reason(exc, self.target)}") from None

    @property
    def owner(self) -> str:
        return self._claims.owner if self._claims else ""

    @property
    def shared(self) -> bool:
        """A server every machine can reach: any process using it claims what it computes."""
        return self._engine is not None and self.backend != "sqlite"

    @property
    def readable(self) -> bool:
        return self._engine is not None

    @property
    def writable(self) -> bool:
        return self._engine is not None and self.mode == "readwrite"

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """{key: {"value", "prompt_tokens", "completion_tokens", "created_at"}} for the keys present."""
        if self._engine is None:
            return {}
        keys = list(keys)
        if not keys:
            return {}
        t = predictions.c
        if self.backend == "postgresql":  # one array parameter: 3x faster than a thousand-value IN list
            from sqlalchemy.dialects.postgresql import ARRAY

            wanted, size = t.key == sa.any_(sa.bindparam("keys", type_=ARRAY(sa.Text))), 5000
        else:
            wanted, size = t.key.in_(sa.bindparam("keys", expanding=True)), 1000
        query = sa.select(t.key, t.value, t.prompt_tokens, t.completion_tokens, t.created_at).where(wanted)

        def read(conn):
            found = {}
            for chunk in chunks(keys, size):
                for key, value, p_tokens, c_tokens, created in conn.execute(query, {"keys": chunk}):
                    found[key] = {"value": json.loads(value), "prompt_tokens": p_tokens,
                                  "completion_tokens": c_tokens, "created_at": created}
            return found

        return self._run(f"reading {len(keys)} predictions", read, write=False)

    def put_many(self, model_hash: str, kind: str, rows: Iterable[tuple[str, object, int, int]]) -> None:
        """Write one batch in one transaction: an interrupted run loses at most the batch in flight."""
        if not self.writable:
            return
        now = time.time()
        values = sorted(({"key": key, "model_hash": model_hash, "kind": kind, "value": canonical_json(value),
                          "prompt_tokens": p, "completion_tokens": c, "created_at": now} for key, value, p, c in rows),
                        key=lambda row: str(row["key"]))
        if not values:
            return
        insert = insert_for(self.backend)(predictions)
        upsert = insert.on_conflict_do_update(index_elements=["key"], set_={
            name: insert.excluded[name] for name in ("model_hash", "kind", "value", "prompt_tokens",
                                                     "completion_tokens", "created_at")})
        keys = [str(row["key"]) for row in values]

        def write(conn):
            conn.execute(upsert, values)
            for chunk in chunks(keys):
                conn.execute(sa.delete(claims).where(claims.c.key.in_(chunk)))

        self._run(f"writing {len(values)} predictions", write)

    # --- claims: which process computes which prediction (claims.py) ------------------------
    def claim(self, keys: list[str], stale_after: float = 600.0) -> list[str]:
        """The keys this process now owns. SQLite: a claim older than `stale_after` seconds, or of a dead
        process on this machine, is taken over. PostgreSQL: a claim whose lease ran out is taken over."""
        ledger = self._claims
        if not self.writable or ledger is None or not keys:
            return list(keys) if not self.writable else []
        owned = self._run(f"claiming {len(keys)} predictions", lambda conn: ledger.claim(conn, list(keys), stale_after))
        ledger.holding(owned)
        return [key for key in keys if key in owned]

    def release(self, keys: list[str]) -> None:
        """Give back claims of predictions this process did not finish (an engine error)."""
        if self.writable and keys:
            def drop(conn):
                for chunk in chunks(list(keys)):
                    conn.execute(sa.delete(claims).where(claims.c.owner == self.owner, claims.c.key.in_(chunk)))
            self._run(f"releasing {len(keys)} claims", drop)

    # --- maintenance -------------------------------------------------------------------------------
    def stats(self) -> list[dict]:
        if self._engine is None:
            return []
        t = predictions.c
        query = (sa.select(t.model_hash, t.kind, sa.func.count(), sa.func.sum(t.prompt_tokens),
                           sa.func.sum(t.completion_tokens), sa.func.sum(sa.func.length(t.value)),
                           sa.func.min(t.created_at), sa.func.max(t.created_at))
                 .group_by(t.model_hash, t.kind).order_by(t.model_hash, t.kind))
        names = ("model_hash", "kind", "predictions", "prompt_tokens", "completion_tokens", "bytes",
                 "oldest", "newest")
        rows = self._run("reading its statistics", lambda conn: conn.execute(query).all(), write=False)
        return [dict(zip(names, row)) for row in rows]

    def size_bytes(self) -> int:
        """What the cache takes on disk: the file, or the predictions table on the server."""
        if self.path is not None:
            return self.path.stat().st_size if self.path.exists() else 0
        return self._run("reading its size", lambda conn: conn.scalar(
            sa.text("SELECT pg_total_relation_size('predictions')")), write=False)

    def prune(self, *, model_prefix: str | None = None, older_than_days: float | None = None) -> int:
        """Delete predictions of one model (hash prefix) and/or older than N days; returns the count."""
        query = sa.delete(predictions)
        if model_prefix:
            query = query.where(predictions.c.model_hash.like(model_prefix.removeprefix("sha256:") + "%"))
        if older_than_days is not None:
            query = query.where(predictions.c.created_at < time.time() - older_than_days * 86400)
        deleted = self._run("pruning", lambda conn: conn.execute(query).rowcount)
        if self.backend == "sqlite":  # give the space back (PostgreSQL's autovacuum does that itself)
            raw = self._connected().raw_connection()
            try:
                cast(Any, raw.driver_connection).execute("VACUUM")
            finally:
                raw.close()
        return deleted

    def close(self) -> None:
        if self._claims is not None:
            self._claims.close()
        if self.shared and self.writable:  # claims left by an interrupt: free now, not after the lease
            try:
                self._run("releasing its claims", lambda conn: conn.execute(
                    sa.delete(claims).where(claims.c.owner == self.owner)), write=True)
            except CacheError:
                pass
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- one transaction, retried on a lost connection ---------------------------------------------
    def _connected(self) -> sa.Engine:
        if self._engine is None:
            raise CacheError(f"prediction cache {self.name} is closed")
        return self._engine

    def _run(self, what: str, work, write: bool = True):
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                with self._connected().connect() as conn:
                    if write:
                        conn.execution_options(sqlite_immediate=True)
                    with conn.begin():
                        return work(conn)
            except sa.exc.DBAPIError as exc:
                if delay is None or not (exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError)):
                    raise CacheError(f"prediction cache {self.name}: {what} failed after {attempt + 1} "
                                     f"attempt(s): {_reason(exc, self.target)}") from None
                time.sleep(delay)


class _NothingCached(Exception):
    """read mode on a DB without cache tables: nothing to read (and nothing is created)."""


def _reason(exc: sa.exc.DBAPIError, target) -> str:
    """The driver's own message, first line, with the password cut out should a driver ever echo it."""
    text = (str(exc.orig) or type(exc.orig).__name__).strip().splitlines()[0]
    password = urlsplit(str(target)).password if "://" in str(target) else None
    return text.replace(password, "***") if password else text
