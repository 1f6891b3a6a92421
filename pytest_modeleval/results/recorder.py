"""A session's writes to the results DB, stopped at the first one that fails (disk full, a lost server).

A run whose DB cannot be written still finishes from memory: its summary and gate verdicts are
computed from the tallies, not from the DB. So the first failure is remembered here, every later
write is skipped instead of raising once per test, and `describe` says what the DB lacks, so the
session can fail the run and say why (docs/options.md, "Faults during a run").
"""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping

from .. import dburl
from .db import DatabaseError

# a write the DB refused or could not take; a programming error (a bad column, a missing table) is no fault of
# the disk and still raises
WRITE_FAULTS = (DatabaseError, OSError, sqlite3.OperationalError)


class Recorder:
    """The store's writes for one run; `failed` from the first fault on, after which nothing is written."""

    def __init__(self, store):
        self.store = store
        self.target = dburl.redact(str(store.target))
        self.fault: str | None = None  # the first failure's cause, without the DB's name or password
        self.outcomes = 0  # outcomes handed over
        self.unwritten = 0  # of those, the ones the DB lacks (queued when the fault came, or later)
        self.skipped: list[str] = []  # what else was not written, in the order it was skipped

    @property
    def failed(self) -> bool:
        return self.fault is not None

    def write(self, what: str | None, call, *args) -> bool:
        """`call(*args)`; False once a write failed (this one or an earlier one), `what` is then not written
        (None: nothing worth naming, such as a feature with nothing to record)."""
        if self.fault is None:
            try:
                call(*args)
                return True
            except WRITE_FAULTS as exc:
                self.fail(exc)
        if what is not None and what not in self.skipped:
            self.skipped.append(what)
        return False

    def add_outcome(self, run_id: int, payload: Mapping[str, Any]) -> None:
        self.outcomes += 1
        if self.fault is not None:
            self.unwritten += 1
            return
        self.write(None, self.store.add_outcome, run_id, payload)

    def fail(self, exc: BaseException) -> None:
        """Remember the first fault; the outcomes still queued will not be written."""
        if self.fault is None:
            self.fault = _cause(exc)
        self.unwritten += self.store.drop_pending()

    def close(self) -> None:
        try:
            self.store.close()
        except WRITE_FAULTS as exc:  # the last flush: the run's end was written, its last outcomes were not
            self.fail(exc)
            self.store.db.close()

    def describe(self) -> str:
        """What the DB lacks, for the line under the summary."""
        lost = ([f"{self.unwritten} outcome{'s' if self.unwritten != 1 else ''}"] if self.unwritten else []) \
            + self.skipped
        listed = lost[0] if len(lost) == 1 else ", ".join(lost[:-1]) + " and " + lost[-1]
        return (f"results DB {self.target} could not be written ({self.fault}) after "
                f"{self.outcomes - self.unwritten} of {self.outcomes} outcomes; not recorded: {listed or 'nothing'}")


def _cause(exc: BaseException) -> str:
    """The driver's reason in one line: "database or disk is full", not the DB's name again."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for prefix in ("results database ", "the write could not be committed: "):
        if text.startswith(prefix) and ": " in text:
            text = text.split(": ", 1)[1]
    return dburl.redact_text(text)
