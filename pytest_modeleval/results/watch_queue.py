"""The `watch_queue` table: `modeleval watch`'s checkpoints, each queued once, claimed by one watcher.

Every change of a row's status is one conditional UPDATE (`WHERE ... AND status = ...`), so of two
watchers sharing a DB exactly one wins a claim or a takeover; each returns whether this one did.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables
from .store import now


def _change(db, *where, **values) -> int:
    """One conditional UPDATE of watch_queue in its own transaction; how many rows it changed."""
    q = tables()["watch_queue"]
    with db.transaction():
        return db.execute(sa.update(q).where(*where).values(**values)).rowcount


def enqueue(db, model_hash: str, path: str) -> bool:
    """Queue a checkpoint; False when its hash is in the queue already."""
    from .db import insert_statement

    q = tables()["watch_queue"]
    row = {"model_hash": model_hash, "path": path, "status": "queued", "queued_at": now(), "attempts": 0}
    with db.transaction():
        return bool(db.execute(insert_statement(db.dialect, q, row, (), on_conflict="nothing").inline()
                               .values(row)).rowcount)


def requeue_failed(db) -> int:
    """Queue the failed checkpoints again, their attempts reset; how many."""
    q = tables()["watch_queue"]
    return _change(db, q.c.status == "failed", status="queued", attempts=0, pid=None)


def running(db) -> list[dict]:
    q = tables()["watch_queue"]
    return db.rows(every(q).where(q.c.status == "running"))


def next_queued(db) -> dict | None:
    """The oldest queued checkpoint."""
    q = tables()["watch_queue"]
    return db.one(every(q).where(q.c.status == "queued").order_by(q.c.id).limit(1))


def claim(db, row_id: int, *, pid: int, host: str, lease_until: float) -> bool:
    """Take a queued checkpoint for this watcher's pytest; False when another watcher took it first."""
    q = tables()["watch_queue"]
    return bool(_change(db, q.c.id == row_id, q.c.status == "queued", status="running", started_at=now(),
                        attempts=q.c.attempts + 1, pid=pid, host=host, lease_until=lease_until))


def take_over(db, row_id: int, attempts: int, status: str, message: str) -> bool:
    """A dead claim becomes `status` (queued again, or failed); False when another watcher did it first."""
    q = tables()["watch_queue"]
    return bool(_change(db, q.c.id == row_id, q.c.status == "running", q.c.attempts == attempts, status=status,
                        pid=None, host=None, lease_until=None, message=message))


def set_pid(db, row_id: int, pid: int) -> None:
    q = tables()["watch_queue"]
    _change(db, q.c.id == row_id, pid=pid)


def renew(db, row_id: int, lease_until: float) -> None:
    """Extend a running claim's lease."""
    q = tables()["watch_queue"]
    db.execute(sa.update(q).where(q.c.id == row_id, q.c.status == "running").values(lease_until=lease_until))


def give_back(db, row_id: int) -> None:
    """An interrupted claim goes back to the queue, the attempt not counted."""
    q = tables()["watch_queue"]
    _change(db, q.c.id == row_id, status="queued", pid=None, attempts=q.c.attempts - 1,
            message="interrupted; queued again")


def finish(db, row_id: int, status: str, exit_status, run_id, message: str) -> None:
    q = tables()["watch_queue"]
    _change(db, q.c.id == row_id, status=status, finished_at=now(), exit_status=exit_status, run_id=run_id, pid=None,
            lease_until=None, message=message)


def recorded_run(db, model_hash: str, since: str) -> dict | None:
    """id and exit_status of the newest finished run of the model started at `since` or later (what a
    claimed checkpoint's pytest managed to record)."""
    r = tables()["runs"]
    return db.one(sa.select(r.c.id, r.c.exit_status).where(r.c.model_hash == model_hash, r.c.started_at >= since,
                                                           r.c.ended_at.is_not(None)).order_by(r.c.id.desc()).limit(1))


def paths(db, prefix: str) -> list[str]:
    """The queued paths (or references) that start with `prefix`: `mlflow:NAME/` finds a registry watch's cursor."""
    q = tables()["watch_queue"]
    return [row["path"] for row in db.rows(sa.select(q.c.path).where(q.c.path.startswith(prefix, autoescape=True)))]
