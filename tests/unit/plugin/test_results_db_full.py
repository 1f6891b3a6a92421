"""A results DB that fills up during a run (issue 27, part 4): the run finishes from memory, prints its summary
and gates, says what was not written, and exits 3; what was written before the fault stays in the DB.

The DB really refuses the writes: SQLite's `PRAGMA max_page_count` caps the session's own connection at the
pages the file has when the Nth test starts, so the next batch of outcomes fails with "database or disk is
full" as on a full disk. Each outcome carries a 1.5 KB message, so a batch of them never fits in a page's
free space.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET

import pytest

ITEMS = 20
SUITE = f"""
import pytest_modeleval as modeleval

@modeleval.suite("s", data=[{{"n": i}} for i in range({ITEMS})])
def test_s(item):
    assert item["n"] < 0, "not negative " * 120  # every answer is wrong and stores this message
"""
CONFTEST = """
import os

import sqlalchemy as sa
from sqlalchemy import event

seen = []


def pytest_runtest_setup(item):
    seen.append(item.nodeid)
    if len(seen) == int(os.environ["FULL_AT_TEST"]):
        db = item.config.pluginmanager.get_plugin("modeleval-session").store.db
        pages = db.execute(sa.text("PRAGMA page_count")).fetchone()[0]
        cap = f"PRAGMA max_page_count = {pages}"
        db.execute(sa.text(cap))
        # on every later connection too: the store retries a failed flush once on a new one
        event.listen(db.engine, "connect", lambda connection, record: connection.execute(cap))
"""
NOT_WRITTEN = re.compile(r"modeleval: results DB (\S+) could not be written \(database or disk is full\) after "
                         r"(\d+) of (\d+) outcomes; not recorded: (.*); this run cannot be promoted \(exit status 3\)")


@pytest.mark.parametrize("full_at, flush_rows", [(9, 3), (ITEMS, ITEMS + 1)], ids=["mid-run", "at-the-end"])
@pytest.mark.parametrize("gates", ["enforce", "off"])
def test_a_results_db_that_fills_up_finishes_the_run_from_memory(pytester, monkeypatch, full_at, flush_rows, gates):
    import pytest_modeleval.results.store as store

    # mid-run: two batches of 3 are written before the cap, the third fails; at the end: the last flush fails
    monkeypatch.setattr(store, "FLUSH_ROWS", flush_rows)
    monkeypatch.setattr(store, "FLUSH_SECONDS", 1e9)
    monkeypatch.setenv("FULL_AT_TEST", str(full_at))
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest(CONFTEST)
    db = pytester.path / "results.sqlite"
    result = pytester.runpytest_inprocess("--model=embedded", f"--eval-db={db}", f"--eval-gate-mode={gates}",
                                          "--junitxml=report.xml", "-p", "no:cacheprovider")
    out = "\n".join(result.outlines + result.errlines)

    assert result.ret == 3, out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert "modeleval summary" in out and re.search(r"^s\s+20\s", out, re.M), out  # the tallies, from memory
    assert ("modeleval gates" in out) == (gates == "enforce")
    match = NOT_WRITTEN.search(out)
    assert match, out
    target, written, total, lost = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
    assert target == str(db) and total == ITEMS
    assert out.rstrip().splitlines()[-2] == match.group(0)  # the last word before pytest's own count
    assert written == (6 if full_at < ITEMS else 0) and lost.startswith(f"{ITEMS - written} outcomes")
    assert ("the gate verdicts" in lost) == (gates == "enforce")  # never kept without their outcomes
    assert lost.endswith("the run's end")

    conn = sqlite3.connect(db)
    run = conn.execute("SELECT ended_at, exit_status, gate_status FROM runs").fetchall()
    assert run == [(None, None, None)]  # started, never finished: `modeleval promote` refuses it
    assert conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == written
    conn.close()
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    assert sum(1 for case in cases if case.get("classname") != "modeleval.gates") == ITEMS


def test_a_run_that_could_write_its_db_says_nothing_of_it(pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess("--model=embedded", "--eval-gate-mode=off", "-p", "no:cacheprovider")
    assert result.ret == 0 and "could not be written" not in result.stdout.str()
