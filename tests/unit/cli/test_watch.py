"""`modeleval watch DIR -- <pytest args>`: one real pytest run per new checkpoint (by content hash),
the queue in the results DB, and recovery after the watcher is killed mid-run.

The checkpoints are tiny HF-format directories (config.json and a few bytes of "weights"): the
suite never calls the model, so each pytest run only resolves and hashes the checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time

import pytest

from evalkit import execute, query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.store import Store, now
from pytest_modeleval.cli.watch import Watcher

SUITE = """
import time

import pytest_modeleval as modeleval

@modeleval.suite("demo", data=[{"answer": 42}, {"answer": 41}])
def test_demo(item):
    assert item["answer"] == 42

def test_slow():
    time.sleep(120)
"""
FAST = ["-q", "-p", "no:cacheprovider", "suites", "-k", "not slow"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_demo.py").write_text(SUITE)
    (tmp_path / "checkpoints").mkdir()
    return tmp_path


def checkpoint(project, name: str, weights: bytes):
    """A checkpoint directory whose weights file is a valid safetensors file holding `weights` (the suites never
    call the model; the plugin only checks the files before collection)."""
    path = project / "checkpoints" / name
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    (path / "model.safetensors").write_bytes(safetensors(weights))
    return path


def safetensors(data: bytes) -> bytes:
    """A safetensors file of one tensor holding these bytes."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


def queue(project, db="results.sqlite") -> list[dict]:
    return query(db if "://" in str(db) else project / db, "SELECT * FROM watch_queue ORDER BY id")


def watch(*args, db="results.sqlite") -> int:
    return modeleval(["watch", "checkpoints", "--once", "--settle", "0", "--db", str(db), *args, "--", *FAST])


def test_each_new_checkpoint_is_evaluated_once_by_content_hash(project, capfd, results_db):
    db = results_db
    checkpoint(project, "step-100", b"one")
    checkpoint(project, "step-200", b"two")
    (project / "checkpoints" / ".partial").mkdir()
    (project / "checkpoints" / "README.md").write_text("not a checkpoint")
    assert watch(db=db) == 0
    rows = queue(project, db)
    assert [(r["path"].rsplit("/", 1)[1], r["status"], r["exit_status"], r["attempts"]) for r in rows] == [
        ("step-100", "done", 0, 1), ("step-200", "done", 0, 1)]
    runs = query(db, "SELECT id, model_hash, model_kind, exit_status, gate_status FROM runs ORDER BY id")
    assert [r["id"] for r in runs] == [row["run_id"] for row in rows]
    assert {r["model_hash"] for r in runs} == {row["model_hash"] for row in rows}
    assert all(r["model_kind"] == "hf-dir" and r["exit_status"] == 0 and r["gate_status"] == "passed" for r in runs)
    assert "modeleval watch: queued step-100" in capfd.readouterr().out

    # the same weights under another name are the same checkpoint; changed weights are a new one
    checkpoint(project, "step-100-copy", b"one")
    (project / "checkpoints" / "step-200" / "model.safetensors").write_bytes(safetensors(b"two, retrained"))
    assert watch(db=db) == 0
    rows = queue(project, db)
    assert len(rows) == 3 and rows[2]["path"].endswith("step-200") and rows[2]["status"] == "done"
    assert len(query(db, "SELECT id FROM runs")) == 3


def test_a_checkpoint_still_being_written_waits(project):
    checkpoint(project, "step-300", b"fresh")
    assert modeleval(["watch", "checkpoints", "--once", "--settle", "3600", "--db", "results.sqlite", "--", *FAST]) == 0
    assert queue(project) == []


def test_a_killed_watcher_leaves_a_queue_the_next_one_finishes(project):
    """Kill the watcher and its pytest mid-run: the row stays `running` with a dead pid; the next
    watcher queues it again and evaluates it."""
    checkpoint(project, "step-400", b"four")
    slow = ["-q", "-p", "no:cacheprovider", "suites"]  # test_slow sleeps: the run is killed inside it
    watcher = subprocess.Popen([sys.executable, "-m", "pytest_modeleval.cli", "watch", "checkpoints", "--settle", "0",
                                "--db", "results.sqlite", "--", *slow], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and watcher.poll() is None:
            try:  # the watcher may be creating the DB right now
                rows = queue(project) if (project / "results.sqlite").exists() else []
                started = query(project / "results.sqlite", "SELECT id FROM runs") if rows else []
            except sqlite3.OperationalError:
                rows = []
            if rows and rows[0]["status"] == "running" and rows[0]["pid"] != watcher.pid and started:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the watcher never started pytest (its exit status: {watcher.poll()})")
    finally:
        os.killpg(watcher.pid, signal.SIGKILL)
        watcher.wait()
    time.sleep(0.5)  # the orphaned pytest is reaped
    [row] = queue(project)
    assert row["status"] == "running" and row["attempts"] == 1
    assert watch() == 0
    [row] = queue(project)
    assert (row["status"], row["attempts"], row["exit_status"]) == ("done", 2, 0)
    runs = query(project / "results.sqlite", "SELECT id, ended_at FROM runs ORDER BY id")
    assert runs[0]["ended_at"] is None and row["run_id"] == runs[-1]["id"]  # the killed run never finished


def test_a_run_recorded_before_the_crash_is_adopted_not_repeated(project, results_db):
    """The watcher died after its pytest finished but before marking the row: nothing is rerun."""
    checkpoint(project, "step-500", b"five")
    watcher = Watcher(results_db, project / "checkpoints", FAST, settle=0)
    try:
        [digest] = watcher.scan()
        store = Store(results_db)
        rid = store.start_run({"model_ref": "x", "model_hash": digest})
        store.finish_run(rid, 10)
        store.close()
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        execute(results_db, "UPDATE watch_queue SET status = 'running', pid = ?, attempts = 1, started_at = ?",
                dead.pid, "2000-01-01T00:00:00+00:00")
        watcher.recover()
        assert watcher.run_next() is False  # nothing queued: the recorded run was adopted
    finally:
        watcher.close()
    [row] = queue(project, results_db)
    assert (row["status"], row["run_id"], row["exit_status"]) == ("done", rid, 10)
    assert row["message"] == "recorded by an interrupted watcher" and now()


@pytest.mark.parametrize(("args", "expected"), [
    (["watch", "nowhere", "--once", "--", "-q"], "nowhere is not a directory"),
    (["watch", "checkpoints", "--once", "--", "--model=embedded"], "do not pass --model after --"),
])
def test_bad_watch_arguments(project, capsys, args, expected):
    assert modeleval(args) == 2
    assert expected in capsys.readouterr().err


def test_watchers_on_two_machines_claim_each_checkpoint_once_and_take_over_an_expired_lease(project, postgres_url):
    """Two watchers (another host name: its pid means nothing here) share one PostgreSQL queue: a claim
    is exactly one watcher's; a claim whose lease ran out is queued again and finished by the other."""
    checkpoint(project, "step-600", b"six")
    here = Watcher(postgres_url, project / "checkpoints", FAST, settle=0, lease=30)
    there = Watcher(postgres_url, project / "checkpoints", FAST, settle=0, lease=30)
    there.host = "another-machine"
    try:
        assert len(here.scan()) == 1 and there.scan() == []  # queued once
        [row] = queue(project, postgres_url)
        claims = [execute(postgres_url, "UPDATE watch_queue SET status = 'running', attempts = attempts + 1, "
                          "pid = ?, host = ?, lease_until = ? WHERE id = ? AND status = 'queued'",
                          os.getpid(), w.host, time.time() + 30, row["id"]) for w in (there, here)]
        assert claims == [1, 0]  # the same conditional UPDATE the watchers claim with: one wins
        here.recover()  # another machine's claim with a live lease is left alone
        assert queue(project, postgres_url)[0]["status"] == "running"
        execute(postgres_url, "UPDATE watch_queue SET lease_until = ?", time.time() - 1)  # that watcher died
        here.recover()
        [row] = queue(project, postgres_url)
        assert (row["status"], row["message"]) == ("queued", "pytest died; queued again")
        assert here.run_next() is True and there.run_next() is False
    finally:
        here.close()
        there.close()
    [row] = queue(project, postgres_url)
    assert (row["status"], row["attempts"], row["exit_status"], row["lease_until"]) == ("done", 2, 0, None)
