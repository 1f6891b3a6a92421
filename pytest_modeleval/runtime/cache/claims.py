"""Who computes which prediction: claims in the cache DB, so that processes sharing a cache
compute each prediction once.

Two policies, one table (`prediction_claims`):

* `LocalClaims` (SQLite: one machine). A claim stands until its process dies (pid liveness on
  this host frees a killed run's claims at once) or grows older than `stale_after`.
* `LeasedClaims` (PostgreSQL: any number of machines). Pids mean nothing across machines, so a
  claim is a lease on the server's clock: a heartbeat thread renews this process's leases every
  lease/3 seconds while it computes; a claimant that dies stops renewing and its claims are free
  once the lease passes. Taking over expired claims locks them with FOR UPDATE SKIP LOCKED, so
  two processes reclaiming at once split the work instead of waiting on each other.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading

import sqlalchemy as sa

from ...util.process import alive
from .schema import prediction_claims as claims

log = logging.getLogger(__name__)
CHUNK = 1000


def chunks(keys: list[str], size: int = CHUNK):
    for start in range(0, len(keys), size):
        yield keys[start:start + size]


def insert_for(dialect: str):
    """The dialect's own insert, which knows ON CONFLICT."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _owned(conn, keys: list[str], owner: str) -> set[str]:
    owned: set[str] = set()
    for chunk in chunks(keys):
        owned.update(conn.scalars(sa.select(claims.c.key).where(claims.c.owner == owner,
                                                                 claims.c.key.in_(chunk))))
    return owned


class LocalClaims:
    def __init__(self, clock):
        self.clock = clock
        self.host = os.uname().nodename
        self.owner = f"{self.host}:{os.getpid()}"

    def claim(self, conn, keys: list[str], stale_after: float) -> set[str]:
        now = self.clock()
        conn.execute(sa.delete(claims).where(claims.c.claimed_at < now - stale_after))
        self._drop_dead_owners(conn)
        conn.execute(insert_for("sqlite")(claims).on_conflict_do_nothing(),
                     [{"key": k, "owner": self.owner, "claimed_at": now, "expires_at": now + stale_after}
                      for k in keys])
        return _owned(conn, keys, self.owner)

    def _drop_dead_owners(self, conn) -> None:
        """Claims of processes on this machine that no longer exist (a killed run) are free at once."""
        prefix = self.host + ":"
        for owner in conn.scalars(sa.select(claims.c.owner).distinct().where(claims.c.owner.like(prefix + "%"))):
            pid = owner[len(prefix):]
            if pid.isdigit() and not alive(int(pid)):
                conn.execute(sa.delete(claims).where(claims.c.owner == owner))

    def holding(self, keys) -> None:
        pass

    def close(self) -> None:
        pass


class LeasedClaims:
    def __init__(self, engine: sa.Engine, lease_s: float):
        self.engine = engine
        self.lease_s = float(lease_s)
        # host:pid alone could repeat across containers; the token makes this process's claims its own
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # One round trip: new claims, and expired ones taken over (rows another claimant is taking over right
    # now are skipped, not waited for), on the server's clock so that machines' clocks need not agree.
    CLAIM = sa.text("""
        WITH clock AS (SELECT EXTRACT(EPOCH FROM now())::float8 AS now),
        fresh AS (
            INSERT INTO prediction_claims (key, owner, claimed_at, expires_at)
            SELECT k, :owner, clock.now, clock.now + :lease FROM unnest(CAST(:keys AS text[])) AS k, clock
            ORDER BY k
            ON CONFLICT (key) DO NOTHING
            RETURNING key),
        taken AS (
            UPDATE prediction_claims SET owner = :owner, claimed_at = clock.now, expires_at = clock.now + :lease
            FROM clock
            WHERE key IN (SELECT c.key FROM prediction_claims AS c, clock
                          WHERE c.key = ANY(CAST(:keys AS text[])) AND c.expires_at < clock.now
                          AND c.owner <> :owner ORDER BY c.key FOR UPDATE OF c SKIP LOCKED)
            RETURNING key),
        held AS (SELECT key FROM prediction_claims WHERE key = ANY(CAST(:keys AS text[])) AND owner = :owner)
        SELECT key FROM fresh UNION SELECT key FROM taken UNION SELECT key FROM held""")

    def claim(self, conn, keys: list[str], stale_after: float) -> set[str]:
        ordered = sorted(set(keys))  # one lock order for every claimant: concurrent inserts cannot deadlock
        return set(conn.scalars(self.CLAIM, {"owner": self.owner, "lease": self.lease_s, "keys": ordered}))

    def holding(self, keys) -> None:
        """This process holds claims: keep its leases alive until close()."""
        if keys and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="modeleval-cache-lease", daemon=True)
            self._thread.start()

    def renew(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.update(claims).where(claims.c.owner == self.owner).values(
                expires_at=sa.text("EXTRACT(EPOCH FROM now())::float8 + :lease").bindparams(
                    lease=self.lease_s))).rowcount

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - the next cache write reports a lost server
                log.warning("prediction cache: could not renew claim leases: %s", type(exc).__name__)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
