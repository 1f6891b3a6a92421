"""The `watch_queue` table: `modeleval watch`'s checkpoints, each queued once, claimed by one watcher.

Every change of a row's status is one conditional UPDATE (`WHERE ... AND status = ...`), so of two
watchers sharing a DB exactly one wins a claim or a takeover; each returns whether this one did.
"""

from __future__ import annotations

from .store import now


def enqueue(db, model_hash: str, path: str) -> bool:
    """Queue a checkpoint; False when its hash is in the queue already."""
    with db.conn:
        return bool(db.conn.execute(
            "INSERT INTO watch_queue (model_hash, path, status, queued_at, attempts) "
            "VALUES (?, ?, 'queued', ?, 0) ON CONFLICT DO NOTHING", [model_hash, path, now()]).rowcount)


def requeue_failed(db) -> int:
    """Queue the failed checkpoints again, their attempts reset; how many."""
    with db.conn:
        return db.conn.execute("UPDATE watch_queue SET status = 'queued', attempts = 0, pid = NULL "
                               "WHERE status = 'failed'").rowcount


def running(db) -> list[dict]:
    return list(db.query("SELECT * FROM watch_queue WHERE status = 'running'"))


def next_queued(db) -> dict | None:
    """The oldest queued checkpoint."""
    rows = list(db.query("SELECT * FROM watch_queue WHERE status = 'queued' ORDER BY id LIMIT 1"))
    return rows[0] if rows else None


def claim(db, row_id: int, *, pid: int, host: str, lease_until: float) -> bool:
    """Take a queued checkpoint for this watcher's pytest; False when another watcher took it first."""
    with db.conn:
        return bool(db.conn.execute(
            "UPDATE watch_queue SET status = 'running', started_at = ?, attempts = attempts + 1, pid = ?, "
            "host = ?, lease_until = ? WHERE id = ? AND status = 'queued'",
            [now(), pid, host, lease_until, row_id]).rowcount)


def take_over(db, row_id: int, attempts: int, status: str, message: str) -> bool:
    """A dead claim becomes `status` (queued again, or failed); False when another watcher did it first."""
    with db.conn:
        return bool(db.conn.execute(
            "UPDATE watch_queue SET status = ?, pid = NULL, host = NULL, lease_until = NULL, message = ? "
            "WHERE id = ? AND status = 'running' AND attempts = ?", [status, message, row_id, attempts]).rowcount)


def set_pid(db, row_id: int, pid: int) -> None:
    with db.conn:
        db.conn.execute("UPDATE watch_queue SET pid = ? WHERE id = ?", [pid, row_id])


def renew(db, row_id: int, lease_until: float) -> None:
    """Extend a running claim's lease."""
    db.execute("UPDATE watch_queue SET lease_until = ? WHERE id = ? AND status = 'running'", [lease_until, row_id])


def give_back(db, row_id: int) -> None:
    """An interrupted claim goes back to the queue, the attempt not counted."""
    with db.conn:
        db.conn.execute("UPDATE watch_queue SET status = 'queued', pid = NULL, attempts = attempts - 1, "
                        "message = 'interrupted; queued again' WHERE id = ?", [row_id])


def finish(db, row_id: int, status: str, exit_status, run_id, message: str) -> None:
    with db.conn:
        db.conn.execute("UPDATE watch_queue SET status = ?, finished_at = ?, exit_status = ?, run_id = ?, "
                        "pid = NULL, lease_until = NULL, message = ? WHERE id = ?",
                        [status, now(), exit_status, run_id, message, row_id])


def recorded_run(db, model_hash: str, since: str) -> dict | None:
    """id and exit_status of the newest finished run of the model started at `since` or later (what a
    claimed checkpoint's pytest managed to record)."""
    rows = list(db.query("SELECT id, exit_status FROM runs WHERE model_hash = ? AND started_at >= ? "
                         "AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1", [model_hash, since]))
    return rows[0] if rows else None
