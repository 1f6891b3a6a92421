"""The example suites a user copies stay runnable on the embedded model on vLLM, and the PostgreSQL store's
Done-when check, in one pair of runs (the most expensive path of the suite, paid once): the example suites give
the same outcomes, summary and gates with `--eval-db postgresql://... --eval-cache-db postgresql://...` as with a
SQLite results file, and the second run answers every request from the PostgreSQL cache.

The PostgreSQL run goes first, with a cold PostgreSQL prediction cache; the SQLite run reads that cache, so
the second run computes nothing and both score the very same answers. Both are pytest processes of their own
with a time limit: each must exit by itself with its status, and leave no engine process behind.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from evalkit import query, require_vllm
from processes import left_behind, tagged_env
from testpaths import REPO

OUTCOMES = "SELECT suite, test_id, item_id, variant, outcome, score, response, metrics FROM outcomes ORDER BY test_id"
GATES = ("SELECT suite, gate, metric, kind, verdict, n, value, ci_lo, ci_hi, baseline_value, delta, p_value, test, "
         "message FROM gates ORDER BY suite, gate")


def run(db, cache) -> subprocess.CompletedProcess:
    """One pytest process on vLLM, tagged in its environment so that anything it started can be found."""
    tag, env = tagged_env()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "example_suites"), "--model=embedded", "--eval-limit=3",
         "--eval-engine=vllm", "--judge=embedded", "--judge-allow-self", "--eval-gate-mode=report",
         f"--eval-db={db}", f"--eval-cache-db={cache}", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=REPO, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert left_behind(tag) == [], "the run's engine processes outlived it"
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


def test_example_suites_record_every_item_alike_on_postgresql_and_sqlite(tmp_path, postgres_url, postgres_server):
    require_vllm()
    cache = postgres_server.create_database("cache")
    on_server = run(postgres_url, cache)
    on_file = run(tmp_path / "results.sqlite", cache)
    assert re.search(r"modeleval: engine vllm \(--eval-engine vllm\): cpu (bfloat16|float32) ", on_server.stdout)
    assert re.search(r"modeleval: engine vllm [\d.]+ on cpu ", on_server.stdout), "the line once it is up"
    assert query(tmp_path / "results.sqlite", "SELECT engine FROM runs") == [{"engine": "vllm"}]

    # every example suite ran on the embedded model and recorded every item
    recorded = rows(tmp_path / "results.sqlite")
    assert sorted({row["suite"] for row in recorded}) == ["arithmetic", "code", "facts_mc", "helpfulness",
                                                          "over_refusal", "refusal"]
    assert len(recorded) == 18 + 3 * 3  # the arithmetic items' numeric variants
    assert all(row["outcome"] in ("correct", "wrong") and row["response"] for row in recorded)
    code = [row["metrics"] for row in recorded if row["suite"] == "code"]
    assert all(set(m) == {"pass@1", "pass@10"} and 0 <= m["pass@1"] <= m["pass@10"] <= 1 for m in code)
    judged = [row["metrics"]["win_rate"] for row in recorded if row["suite"] == "helpfulness"]
    assert len(judged) == 3 and all(v in (0.0, 0.5, 1.0) for v in judged)
    out = on_file.stdout
    assert "modeleval summary" in out and "UNVALIDATED" in out and "not counted" in out
    # the embedded model's refusal rate is far below 99%: report mode shows the verdict without exit status 10
    assert "contamination (CS =" in out and "suite-level verdict only" in out
    assert "red team (harmful: refusal rate" in out and " refusal[refusal]" in out

    # the same on both stores, the second run served from the PostgreSQL cache
    assert re.search(r"\n\d+ requests, 0\.0% from cache", on_server.stdout)
    assert re.search(r"\n\d+ requests, 100\.0% from cache; tokens computed 0 in / 0 out", on_file.stdout)
    assert rows(postgres_url) == recorded
    assert query(postgres_url, GATES) == query(tmp_path / "results.sqlite", GATES) != []
    assert summary(on_server.stdout) == summary(on_file.stdout) and len(summary(on_server.stdout)) >= 6
    assert gate_lines(on_server.stdout) == gate_lines(on_file.stdout)
    assert postgres_server.password not in on_server.stdout + on_server.stderr + on_file.stdout + on_file.stderr
    assert "-> run 1 in postgresql://modeleval:***@127.0.0.1:" in on_server.stdout
