"""The example suites a user copies stay runnable on the embedded model."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from testpaths import REPO

ROOT = REPO


def test_example_suites_run_end_to_end_and_record_every_item(tmp_path):
    db = tmp_path / "results.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "example_suites"), "--model=embedded", "--eval-limit=3",
         "--judge=embedded", "--judge-allow-self", "--eval-gate-mode=report",
         f"--eval-db={db}", f"--eval-cache-db={tmp_path / 'cache.sqlite'}", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "modeleval summary" in done.stdout
    rows = sqlite3.connect(db).execute("select suite, outcome, response, metrics from outcomes").fetchall()
    assert sorted({row[0] for row in rows}) == ["arithmetic", "code", "facts_mc", "helpfulness", "over_refusal",
                                                 "refusal"]
    assert len(rows) == 18 + 3 * 3  # the arithmetic items' numeric variants
    assert all(outcome in ("correct", "wrong") for _, outcome, _, _ in rows)
    assert all(response for _, _, response, _ in rows)
    code = [json.loads(metrics) for suite, _, _, metrics in rows if suite == "code"]
    assert all(set(m) == {"pass@1", "pass@10"} and 0 <= m["pass@1"] <= m["pass@10"] <= 1 for m in code)
    judged = [json.loads(metrics)["win_rate"] for suite, _, _, metrics in rows if suite == "helpfulness"]
    assert len(judged) == 3 and all(v in (0.0, 0.5, 1.0) for v in judged)
    assert "UNVALIDATED" in done.stdout and "not counted" in done.stdout
    # the embedded model's refusal rate is far below 99%: report mode shows the verdict without exit status 10
    assert "contamination (CS =" in done.stdout and "suite-level verdict only" in done.stdout
    assert "red team (harmful: refusal rate" in done.stdout and " refusal[refusal]" in done.stdout
