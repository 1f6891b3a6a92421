"""Sequential gates in real pytest sessions (docs/gates.md, "Sequential gates"): a regressed run stops once its
gate is decided and skips the rest with the decision as the reason; the summary, the results DB and JUnit say
after how many items; `modeleval gate`, pytest-xdist and a run group of two shards reach the same decision on
the same items; a healthy run is unchanged. The suite never calls the model (an item is right when its
`answer` is 42), so each run takes about a second."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_demo(item):
    assert item["answer"] == 42
"""
PROJECT = "[tool.modeleval.gates]\nsequential = true\n"
DB = "results.sqlite"
N = 200
DECIDED = re.compile(r"decided after (\d+) of 200 items")


def write(path, wrong_every: int | None) -> None:
    rows = [{"answer": 41 if wrong_every and i % wrong_every == 0 else 42} for i in range(N)]
    (path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def run(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--model=embedded", "-rs",
                           f"--eval-db={DB}", "--eval-cache-db=cache.sqlite", *args],
                          capture_output=True, text=True, cwd=path, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A promoted baseline where every item is right, and the suite made sequential (one for the module)."""
    path = tmp_path_factory.mktemp("sequential")
    (path / "test_demo.py").write_text(SUITE)
    (path / "pyproject.toml").write_text(PROJECT)
    write(path, None)
    assert run(path).returncode == 0
    assert modeleval(["promote", "embedded", "--db", str(path / DB)]) == 0
    return path


def latest(path) -> int:
    return query(path / DB, "SELECT max(id) AS id FROM runs")[0]["id"]


def gate_row(path, run_id: int) -> dict:
    [row] = query(path / DB, f"SELECT verdict, message, sequential FROM gates WHERE run_id = {run_id} "
                             "AND gate = 'no-regression'")
    return {**row, "sequential": json.loads(row["sequential"])}


def test_a_healthy_run_is_gated_as_before(project):
    write(project, None)
    healthy = run(project)
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    assert "SKIPPED" not in healthy.stdout
    row = gate_row(project, latest(project))
    # the fixed-size rule's verdict, as without `sequential`: no item differs, so no fall could be seen
    assert row["verdict"] == "underpowered" and row["sequential"] == {"open": 10, "of": N}
    assert "sequential: still open after all 10 rounds (200 items), so the fixed-size rule decided" in row["message"]
    assert DECIDED.search(row["message"]) is None


def test_a_regressed_run_stops_when_decided_and_every_way_of_gating_it_agrees(project, capsys):
    write(project, 3)  # a third of the items lost: a 33-point fall
    alone = run(project, "--junitxml=alone.xml")
    assert alone.returncode == 10, alone.stdout[-3000:]
    first = latest(project)
    decided = gate_row(project, first)
    seq = decided["sequential"]
    assert decided["verdict"] == "fail" and seq["verdict"] == "fail" and seq["of"] == N
    items = seq["items"]
    assert 0 < items < N and f"decided after {items} of 200 items" in decided["message"]
    assert f"FAIL (after {items}/200)" in alone.stdout
    skipped = re.search(r"SKIPPED \[(\d+)\] .*the sequential gates of suite demo were decided after (\d+) of 200 "
                        r"items \(no-regression FAIL\); this item is not evaluated", alone.stdout)
    assert skipped and int(skipped.group(1)) == N - items and int(skipped.group(2)) == items
    [case] = [c for c in ET.parse(project / "alone.xml").getroot().iter("testcase")
              if c.get("name") == "no-regression[demo]"]
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["modeleval_items_evaluated"] == f"{items} of 200" and case.find("failure") is not None

    capsys.readouterr()
    assert modeleval(["gate", str(first), "--db", str(project / DB)]) == 10  # the recorded run replays it
    assert gate_row(project, first) == decided

    spread = run(project, "-n", "2")  # the workers learn the decision from the controller
    assert spread.returncode == 10, spread.stdout[-3000:]
    assert gate_row(project, latest(project)) == decided

    for shard in ("1/2", "2/2"):  # a shard runs its own items; the group's gate replays over their union
        done = run(project, f"--eval-shard={shard}", "--eval-run-group=g1")
    assert done.returncode == 10, done.stdout[-3000:]
    grouped = gate_row(project, latest(project))
    assert grouped["sequential"] == seq and grouped["verdict"] == "fail"
