"""The results database: one row per run, per suite and per item outcome (SQLite file or PostgreSQL).

Outcomes are written in small batches as tests finish (in the pytest-xdist controller
when workers run) and at the end; an interrupted session keeps all but the last
second of outcomes, and those are cheap to redo from the prediction cache.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa

from .schema import tables
from .tables import JUDGMENT_LISTS, JUDGMENTS, OUTCOMES, REFUSALS

_OUTCOME_COLUMNS = tuple(name for name in OUTCOMES if name != "id")
_OUTCOME_KEY = ("run_id", "test_id")  # a rerun of the same test replaces its row
FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """The results DB (a SQLite path or a PostgreSQL URL) with its schema brought up to date on opening."""

    def __init__(self, target, *, readonly: bool = False):
        from .. import dburl
        from .db import Database
        from .migrate import upgrade

        self.target = target if dburl.is_url(str(target)) else Path(target)
        self.path = self.target  # the name older call sites use; a URL for a server
        self.label = dburl.redact(str(target))
        self.db = Database(self.target, readonly=readonly)
        try:
            upgrade(self.db)
        except Exception:
            self.db.close()
            raise
        self._pending: list[tuple] = []
        self._flushed_at = time.monotonic()

    def start_run(self, record: dict) -> int:
        record = {**record, "started_at": now()}
        if isinstance(record.get("settings"), dict):
            record["settings"] = json.dumps(record["settings"], sort_keys=True, default=str)
        return self.db["runs"].insert(record).last_pk

    def update_run(self, run_id: int, fields: dict) -> None:
        self.db["runs"].update(run_id, fields)

    def finish_run(self, run_id: int, exit_status: int) -> None:
        self.flush()
        self.update_run(run_id, {"ended_at": now(), "exit_status": exit_status})

    def close(self) -> None:
        self.flush()
        self.db.close()

    def add_suite(self, run_id: int, suite: dict) -> None:
        self.db["suites"].upsert({**suite, "run_id": run_id}, pk=("run_id", "suite"))

    def update_suite(self, run_id: int, suite: str, fields: dict) -> None:
        self.db["suites"].upsert({**fields, "run_id": run_id, "suite": suite}, pk=("run_id", "suite"))

    def add_outcome(self, run_id: int, outcome: Mapping[str, Any]) -> None:
        """Queue an outcome; written every FLUSH_ROWS rows or FLUSH_SECONDS, and at the end.

        Insert or replace by (run, test id): a rerun of the same test keeps its last result.
        An outcome is cheap to redo from the prediction cache, so a crash losing the last
        second of rows costs nothing computed, while one transaction per test would cost
        more than the test itself on a warm cache.
        """
        values = {key: outcome.get(key) for key in _OUTCOME_COLUMNS}
        if values["metrics"] is not None:
            values["metrics"] = json.dumps(values["metrics"], sort_keys=True, default=str)
        values.update(run_id=run_id, finished_at=now())
        self._pending.append(tuple(values[key] for key in _OUTCOME_COLUMNS))
        if len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the queued outcomes in one transaction; kept queued (and the error raised) if it fails.

        The write is idempotent (insert or replace by run and test id), so a connection lost
        in the middle is retried once on a new connection before it becomes an error.
        """
        from .db import DatabaseError, insert_statement

        if self._pending:
            upsert = insert_statement(self.db.dialect, tables()["outcomes"], _OUTCOME_COLUMNS, _OUTCOME_KEY,
                                      on_conflict="update").inline()
            rows = [dict(zip(_OUTCOME_COLUMNS, row)) for row in self._pending]
            for attempt in (1, 2):
                try:
                    with self.db.transaction():
                        self.db.execute(upsert, rows, many=True)
                    break
                except DatabaseError:
                    if attempt == 2:
                        raise
                    self.db.reconnect()
            self._pending = []
        self._flushed_at = time.monotonic()

    def drop_pending(self) -> int:
        """Forget the queued outcomes (a DB that cannot be written: recorder.py); how many there were."""
        dropped, self._pending = len(self._pending), []
        return dropped

    def add_judgment(self, run_id: int, payload: dict) -> None:
        """The judge's record of one item (kept even when its verdict was unreadable: that is the evidence)."""
        judgment = payload["judgment"]
        row = {key: judgment.get(key) for key in JUDGMENTS if key in judgment}
        for key in JUDGMENT_LISTS:
            row[key] = json.dumps(row.get(key) or [])
        row.update(run_id=run_id, suite=payload["suite"], test_id=payload["test_id"], item_id=payload["item_id"],
                   variant=payload["variant"])
        judgments = tables()["judgments"]
        with self.db.transaction():  # a rerun of the same test keeps its last judgment, as outcomes do
            self.db.execute(sa.delete(judgments).where(judgments.c.run_id == run_id,
                                                       judgments.c.test_id == payload["test_id"]))
            self.db["judgments"].insert(row)

    def add_rejudgment(self, run_id: int, record: dict) -> None:
        """A baseline item judged again by this run's judge (judge.rejudge.baseline_record), kept against the
        baseline run; the same item, judge and template judged again replaces its row."""
        row = {key: record.get(key) for key in JUDGMENTS if key in record and key != "id"}
        for key in JUDGMENT_LISTS:
            row[key] = json.dumps(row.get(key) or [])
        row.update(judged_in_run_id=run_id, created_at=now())
        rejudgments = tables()["rejudgments"]
        with self.db.transaction():
            self.db.execute(sa.delete(rejudgments).where(*(rejudgments.c[key] == row[key] for key in (
                "run_id", "test_id", "judge_hash", "template_sha256"))))
            self.db["rejudgments"].insert(row)

    def add_refusal(self, run_id: int, payload: dict) -> None:
        """A red-team item's answer and class (kept when the classifier failed: that is the evidence)."""
        refusal = payload["refusal"]
        row = {key: refusal.get(key) for key in REFUSALS if key in refusal}
        row["outputs"] = json.dumps(row.get("outputs") or [])
        row.update(run_id=run_id, suite=payload["suite"], test_id=payload["test_id"], item_id=payload["item_id"],
                   variant=payload["variant"])
        refusals = tables()["refusals"]
        with self.db.transaction():
            self.db.execute(sa.delete(refusals).where(refusals.c.run_id == run_id,
                                                      refusals.c.test_id == payload["test_id"]))
            self.db["refusals"].insert(row)

    def add_variants(self, rows: list[dict]) -> None:
        """Candidate variants; a row another process wrote first (same key) is kept, not duplicated."""
        stamp = now()
        with self.db.transaction():
            for row in rows:
                self.db["variants"].insert({**row, "created_at": stamp}, ignore=True)

    def outcomes(self, run_id: int) -> list[dict]:
        self.flush()
        from .runs import rows_of_run

        return rows_of_run(self.db, "outcomes", run_id)

    def run(self, run_id: int) -> dict:
        return self.db["runs"].get(run_id)
