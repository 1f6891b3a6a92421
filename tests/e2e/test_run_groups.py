"""Shards without a merge step: `--eval-shard K/N` pytest processes on one PostgreSQL results DB make one
run group; the last shard in gates the union, whose verdicts equal the unsharded run's.

The suite never calls the model (an item is right when its `answer` is 42), so each process only
starts pytest; the baseline is an earlier run of the same checkpoint on better data, promoted.
"""

from __future__ import annotations

import json
import subprocess
import sys

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.report import figures
from pytest_modeleval.results import dashboard
from pytest_modeleval.results.db import Database

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_demo(item):
    assert item["answer"] == 42
"""
GATE_COLUMNS = "suite, gate, metric, kind, verdict, n, value, ci_lo, ci_hi, baseline_run_id, baseline_value, " \
               "delta, p_value, test"


def pytest_run(tmp_path, db: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--model=embedded", "-q",
                           f"--eval-db={db}", f"--eval-cache-db={tmp_path / 'cache.sqlite'}", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)


def data(tmp_path, right: int, wrong: int) -> None:
    rows = [{"answer": 42}] * right + [{"answer": 41}] * wrong
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_two_shard_processes_on_one_db_are_gated_as_the_unsharded_run(tmp_path, monkeypatch, postgres_url, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_demo.py").write_text(SUITE)
    data(tmp_path, 40, 0)
    assert pytest_run(tmp_path, postgres_url).returncode == 0
    assert modeleval(["promote", "embedded", "--db", postgres_url]) == 0
    data(tmp_path, 24, 16)  # a regression on the same items
    whole = pytest_run(tmp_path, postgres_url)
    assert whole.returncode == 10, whole.stdout

    first = pytest_run(tmp_path, postgres_url, "--eval-shard=1/2", "--eval-run-group=ci-77")
    assert first.returncode == 0, first.stdout + first.stderr  # half the evidence decides nothing
    assert "run group ci-77 (sha256:" in first.stdout
    assert "shards in: 1/2; missing: 2/2: the gates wait for the last shard" in first.stdout
    capsys.readouterr()
    assert modeleval(["gate", "group:ci-77", "--db", postgres_url]) == 1
    assert "shards in: 1/2; missing: 2/2" in capsys.readouterr().err

    second = pytest_run(tmp_path, postgres_url, "--eval-shard=2/2", "--eval-run-group=ci-77")
    assert second.returncode == 10, second.stdout + second.stderr
    assert "shards in: 1/2, 2/2 (complete): gated as one run, run 5" in second.stdout
    runs = query(postgres_url, "SELECT id, shard, run_group, group_run_id FROM runs ORDER BY id")
    assert [(r["id"], r["shard"], r["run_group"], r["group_run_id"]) for r in runs] == [
        (1, None, None, None), (2, None, None, None), (3, "1/2", "ci-77", 5), (4, "2/2", "ci-77", 5),
        (5, "group ci-77: 1/2 + 2/2", "ci-77", None)]
    gates = f"SELECT {GATE_COLUMNS} FROM gates WHERE run_id = ? ORDER BY suite, gate"
    assert query(postgres_url, gates, 5) == query(postgres_url, gates, 2) != []
    assert query(postgres_url, "SELECT COUNT(*) AS n FROM outcomes WHERE run_id = 5") == [{"n": 40}]
    password = postgres_url.split(":")[2].split("@")[0]  # never printed, never stored in the runs rows
    assert all(password not in done.stdout + done.stderr for done in (whole, first, second))
    stored = query(postgres_url, "SELECT command, settings FROM runs WHERE id = 4")[0]
    assert password not in stored["command"] + stored["settings"] and ":***@127.0.0.1" in stored["command"]

    # gated again later by name: the same union run, the same verdicts
    assert modeleval(["gate", "group:ci-77", "--db", postgres_url]) == 10
    assert "union run 5" in capsys.readouterr().out
    assert query(postgres_url, gates, 5) == query(postgres_url, gates, 2)
    db = Database(postgres_url, readonly=True)  # the dashboard shows the group as one run
    try:
        assert [run["id"] for run in figures.runs(db)] == [1, 2, 5]
        assert {row["run_id"] for row in dashboard.suite_stats(db)} == {1, 2, 5}
    finally:
        db.close()
