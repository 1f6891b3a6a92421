"""The Done-when check of the PostgreSQL store, once: the example suites on the embedded model give
the same outcomes, summary and gates with `--eval-db postgresql://... --eval-cache-db postgresql://...`
as with a SQLite results file, and the second run answers every request from the PostgreSQL cache.

The PostgreSQL run goes first, with a cold PostgreSQL prediction cache; the SQLite run reads that
cache, so the second run computes nothing and both score the very same answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from evalkit import query
from testpaths import REPO

ROOT = REPO
OUTCOMES = "SELECT suite, test_id, item_id, variant, outcome, score, response, metrics FROM outcomes ORDER BY test_id"
GATES = ("SELECT suite, gate, metric, kind, verdict, n, value, ci_lo, ci_hi, baseline_value, delta, p_value, test, "
         "message FROM gates ORDER BY suite, gate")


def run(db, cache) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "example_suites"), "--model=embedded", "--eval-limit=3",
         "--judge=embedded", "--judge-allow-self", "--eval-gate-mode=report", f"--eval-db={db}",
         f"--eval-cache-db={cache}", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def summary(stdout: str) -> list[str]:
    """The summary table's rows without the usage columns (the second run reads the cache) and the gates."""
    section = stdout[stdout.index("modeleval summary"):]
    rows = [line for line in section.splitlines() if re.match(r"^[a-z_]+\s+\d+\s+\d+", line)]
    return [re.split(r"\s{2,}", line)[:7] for line in rows]


def gate_lines(stdout: str) -> list[str]:
    section = stdout[stdout.index("modeleval gates"):]
    return [line for line in section.splitlines() if not line.startswith(("baseline:", "=", "modeleval:"))]


def rows(db) -> list[dict]:
    return [{**row, "metrics": json.loads(row["metrics"]) if row["metrics"] else None} for row in query(db, OUTCOMES)]


def test_example_suites_on_postgresql_match_sqlite(tmp_path, postgres_url, postgres_server):
    cache = postgres_server.create_database("cache")
    on_server = run(postgres_url, cache)
    on_file = run(tmp_path / "results.sqlite", cache)
    assert re.search(r"\n\d+ requests, 0\.0% from cache", on_server.stdout)
    assert re.search(r"\n\d+ requests, 100\.0% from cache; tokens computed 0 in / 0 out", on_file.stdout)
    assert rows(postgres_url) == rows(tmp_path / "results.sqlite") and len(rows(postgres_url)) == 27
    assert query(postgres_url, GATES) == query(tmp_path / "results.sqlite", GATES) != []
    assert summary(on_server.stdout) == summary(on_file.stdout) and len(summary(on_server.stdout)) >= 6
    assert gate_lines(on_server.stdout) == gate_lines(on_file.stdout)
    assert postgres_server.password not in on_server.stdout + on_server.stderr + on_file.stdout + on_file.stderr
    assert "-> run 1 in postgresql://modeleval:***@127.0.0.1:" in on_server.stdout
