"""`modeleval runs | show | compare | history | export | promote | prune` on results DBs built here
through the Store (what a pytest session writes), so every case is exact and takes milliseconds."""

from __future__ import annotations

import csv
import io
import json

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.store import Store

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def db(results_db, tmp_path, monkeypatch):
    """Every command against both backends: a SQLite file, then a PostgreSQL URL."""
    monkeypatch.chdir(tmp_path)
    return results_db


def add_run(path, model: str, results: dict[str, list], *, exit_status=0, gate_status="passed", gates=(),
            finished=True, started=None, metrics=None) -> int:
    """A run: suite -> list of 1/0 (correct/wrong) or None (error); metrics: suite -> name -> values."""
    store = Store(path)
    rid = store.start_run({"model_ref": f"ckpt-{model[0]}", "model_hash": model, "model_kind": "hf-dir"})
    for suite, values in results.items():
        for i, value in enumerate(values):
            outcome = "error" if value is None else ("correct" if value else "wrong")
            item_metrics = {name: vals[i] for name, vals in (metrics or {}).get(suite, {}).items()} or None
            store.add_outcome(rid, {"suite": suite, "item_id": f"{suite}-{i:04d}-p0", "test_id": f"t::{suite}[{i}]",
                                    "outcome": outcome, "score": None if value is None else float(value),
                                    "metrics": item_metrics if value is not None else None})
    for gate in gates:
        store.db["gates"].insert({"run_id": rid, **gate})
    if finished:
        store.finish_run(rid, exit_status)
    store.update_run(rid, {"gate_status": gate_status,
                           "gates_failed": sum(g["verdict"] == "fail" for g in gates)})
    if started:
        store.update_run(rid, {"started_at": started})
    store.close()
    return rid


FAILED_GATE = {"suite": "qa", "gate": "no-regression", "metric": "score", "kind": "regression", "verdict": "fail",
               "n": 10, "value": 0.2, "baseline_value": 0.9, "delta": -0.7, "p_value": 0.002,
               "message": "score fell 70.0 pts against baseline run 1"}


def out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_runs_lists_newest_first_with_score_gates_and_channel(db, capsys):
    add_run(db, A, {"qa": [1] * 9 + [0]})
    add_run(db, B, {"qa": [1] * 2 + [0] * 8, "mc": [1, None]}, exit_status=10, gate_status="failed",
            gates=[FAILED_GATE])
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db), "--by", "ci"]) == 0
    capsys.readouterr()
    assert modeleval(["runs", "--db", str(db)]) == 0
    lines = out(capsys).splitlines()
    assert lines[0].split() == ["run", "started", "(UTC)", "model", "sha256", "suites", "n", "score", "errors", "gates",
                                "exit", "promoted"]
    assert lines[1].split()[3:] == ["ckpt-b", "b" * 12, "2", "11", "27.3%", "1", "failed", "(1)", "10"]
    assert lines[2].split()[3:] == ["ckpt-a", "a" * 12, "1", "10", "90.0%", "0", "passed", "0", "production"]
    assert modeleval(["runs", "--db", str(db), "--model", "sha256:bbbbbbbb"]) == 0
    assert len(out(capsys).splitlines()) == 2


def test_show_prints_the_run_its_suites_metrics_and_gates(db, capsys):
    add_run(db, A, {"judge": [1, 1, 0, 1]}, metrics={"judge": {"win_rate": [1, 1, 0, 0.5]}},
            exit_status=10, gate_status="failed", gates=[{**FAILED_GATE, "suite": "judge"}])
    assert modeleval(["show", "latest", "--db", str(db)]) == 0
    text = out(capsys)
    assert f"model ckpt-a sha256:{A} (hf-dir)" in text
    lines = [line.split() for line in text.splitlines()]
    assert ["judge", "4", "3", "1", "0", "75.0%"] in [line[:6] for line in lines]
    assert ["judge", "win_rate", "4", "0.6250"] in lines
    assert "gates: failed (1 failed), no baseline" in text
    assert "fail no-regression[judge]: score fell 70.0 pts against baseline run 1" in text
    assert modeleval(["show", "9", "--db", str(db)]) == 2
    assert "modeleval show: there is no run 9 (runs go up to 1)" in out(capsys)
    assert modeleval(["show", "1", "--db", "missing.sqlite"]) == 2
    assert "results database missing.sqlite does not exist" in out(capsys)


def test_compare_is_paired_on_shared_items_with_the_unpaired_listed(db, capsys):
    add_run(db, A, {"qa": [1] * 30, "old": [1]})
    add_run(db, B, {"qa": [0] * 12 + [1] * 16})  # two items fewer
    assert modeleval(["compare", "1", "2", "--db", str(db)]) == 0
    text = out(capsys)
    assert "run 2 compared with run 1 (delta = run 2 - run 1, paired on shared items)" in text
    row = next(line for line in text.splitlines() if line.startswith("qa"))
    assert row.split()[:6] == ["qa", "score", "28", "100.0%", "57.1%", "-42.9"]
    assert row.endswith("McNemar exact")
    assert "qa score: unpaired items: 2 only in run 1, 0 only in run 2" in text
    assert "old: only in run 1" in text


def test_history_follows_a_metric_over_checkpoints(db, capsys):
    add_run(db, A, {"qa": [1, 0, 0, 0]})
    add_run(db, A, {"qa": [1, 1, 0, 0]})  # A's newest run counts
    add_run(db, B, {"qa": [1, 1, 1, 0], "mc": [1, 1]})
    add_run(db, C, {"qa": [1, 1, 1, 1]}, finished=False)  # not finished: not in the history
    assert modeleval(["promote", "sha256:bbbbbbbb", "--db", str(db)]) == 0
    capsys.readouterr()
    assert modeleval(["history", "--db", str(db)]) == 0
    lines = out(capsys).splitlines()
    assert lines[1].split() == ["run", "date", "sha256", "promoted", "gates", "mc", "qa"]
    assert lines[2].split()[2:] == ["a" * 12, "passed", "-", "50.0%"]
    assert lines[3].split()[2:] == ["b" * 12, "production", "passed", "100.0%", "75.0%"]
    assert "qa: 50.0% -> 75.0% over 2 checkpoints (best 75.0% at run 3)" in lines
    assert modeleval(["history", "--db", str(db), "--metric", "win_rate"]) == 0
    assert "no finished runs record win_rate" in out(capsys)


def test_history_follows_the_contamination_score(db, capsys):
    for model, cs, review in ((A, 0.02, 0), (B, 0.31, 1)):
        rid = add_run(db, model, {"gsm": [1, 1]})
        store = Store(db)
        store.db["contamination"].insert({"run_id": rid, "suite": "gsm", "cs": cs, "n_items": 2})
        store.update_run(rid, {"review_required": review})
        store.close()
    assert modeleval(["history", "--db", str(db), "--metric", "cs"]) == 0
    lines = out(capsys).splitlines()
    assert lines[0].startswith("contamination score (CS) per checkpoint")
    assert lines[1].split() == ["run", "date", "sha256", "promoted", "gates", "gsm", "review"]
    assert lines[2].split()[2:] == ["a" * 12, "passed", "0.020", "-"]
    assert lines[3].split()[2:] == ["b" * 12, "passed", "0.310", "yes"]
    assert "gsm: 0.020 -> 0.310 over 2 checkpoints (highest 0.310 at run 2)" in lines


def test_export_json_and_csv(db, capsys, tmp_path):
    add_run(db, A, {"judge": [1, 0]}, metrics={"judge": {"win_rate": [1, 0]}}, gates=[FAILED_GATE])
    add_run(db, B, {"qa": [1]})
    assert modeleval(["export", "1", "--db", str(db)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"runs", "suites", "outcomes", "gates", "promotions"}
    assert [r["id"] for r in data["runs"]] == [1] and len(data["outcomes"]) == 2
    assert data["outcomes"][0]["metrics"] == {"win_rate": 1}
    assert data["gates"][0]["verdict"] == "fail"
    assert modeleval(["export", "--format", "csv", "--db", str(db)]) == 2
    assert "--format csv writes one table" in out(capsys)
    assert modeleval(["export", "--format", "csv", "--table", "outcomes", "-o", "o.csv", "--db", str(db)]) == 0
    assert "wrote 3 outcomes to o.csv" in out(capsys)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text())))
    assert [(r["run_id"], r["item_id"], r["outcome"]) for r in rows] == [
        ("1", "judge-0000-p0", "correct"), ("1", "judge-0001-p0", "wrong"), ("2", "qa-0000-p0", "correct")]
    assert json.loads(rows[0]["metrics"]) == {"win_rate": 1}


@pytest.mark.parametrize(("run", "expected"), [
    (dict(finished=False), "did not finish"),
    (dict(exit_status=1), "ended with exit status 1"),
    (dict(gate_status=None), "has no gate verdicts"),
    (dict(exit_status=10, gate_status="failed", gates=[FAILED_GATE]), "failed 1 gate(s) that no committed override covers"),
])
def test_promote_refuses_a_checkpoint_whose_last_run_did_not_pass(db, capsys, run, expected):
    add_run(db, A, {"qa": [1, 1]})
    add_run(db, A, {"qa": [1, 0]}, **run)
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db)]) == 1
    assert expected in out(capsys)
    assert query(db, "SELECT COUNT(*) AS n FROM promotions") == [{"n": 0}]


def test_promote_records_who_when_and_which_run(db, capsys):
    add_run(db, A, {"qa": [1, 1]})
    add_run(db, B, {"qa": [1, 1]})
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db), "--by", "jane", "--note", "r1"]) == 0
    assert modeleval(["promote", "sha256:bbbbbbbb", "--db", str(db), "--by", "joe"]) == 0
    text = out(capsys)
    assert f"promoted sha256:{'b' * 12} (run 2) to production (was sha256:{'a' * 12}, run 1); promotion 2" in text
    assert modeleval(["promote", "sha256:bbbbbbbb", "--db", str(db)]) == 0
    assert "already the current production checkpoint" in out(capsys)
    rows = query(db, 'SELECT model_hash, channel, run_id, "by", note FROM promotions ORDER BY id')
    assert rows == [{"model_hash": A, "channel": "production", "run_id": 1, "by": "jane", "note": "r1"},
                    {"model_hash": B, "channel": "production", "run_id": 2, "by": "joe", "note": None}]
    assert modeleval(["promote", "sha256:cccccccc", "--db", str(db)]) == 2
    assert "no run in the results database evaluated a model sha256:cccccccc" in out(capsys)


def test_prune_keeps_promoted_checkpoints_and_follows_the_configured_retention(db, capsys, tmp_path):
    old = "2020-01-01T00:00:00+00:00"
    add_run(db, A, {"qa": [1]}, started=old)  # promoted below: kept
    add_run(db, B, {"qa": [1, 0]}, started=old, gates=[FAILED_GATE])  # old: deleted with its rows
    add_run(db, B, {"qa": [1]})  # recent: kept
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db)]) == 0
    assert modeleval(["prune", "--db", str(db)]) == 2
    assert "no retention period" in out(capsys)
    (tmp_path / "pyproject.toml").write_text("[tool.modeleval.retention]\ndays = 30\n")
    assert modeleval(["prune", "--db", str(db), "--dry-run"]) == 0
    assert "would delete 1 runs started before" in out(capsys)
    assert modeleval(["prune", "--db", str(db)]) == 0
    text = out(capsys)
    assert "deleted 1 runs" in text and "with 2 outcomes and 1 gate verdicts; kept 1 runs of promoted" in text
    assert [r["id"] for r in query(db, "SELECT id FROM runs ORDER BY id")] == [1, 3]
    assert query(db, "SELECT COUNT(*) AS n FROM outcomes WHERE run_id = 2") == [{"n": 0}]
    assert query(db, "SELECT COUNT(*) AS n FROM gates") == [{"n": 0}]
    (tmp_path / "pyproject.toml").write_text("[tool.modeleval.retention]\nday = 30\n")
    assert modeleval(["prune", "--db", str(db)]) == 2
    assert "[tool.modeleval.retention]: unknown key 'day'" in out(capsys)


def test_prune_keeps_audited_runs_for_their_audit_retention(db, capsys):
    import datetime

    recent = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)).isoformat()
    audit = json.dumps({"governance": {"result_retention_days": 365}})
    kept = add_run(db, A, {"gsm": [1]}, started=recent)
    gone = add_run(db, B, {"gsm": [0]}, started=recent)
    short = add_run(db, C, {"gsm": [0]}, started=recent)
    store = Store(db)
    store.update_run(kept, {"audit_id": "a", "audit_config": audit})
    store.update_run(short, {"audit_id": "b", "audit_config": json.dumps({"governance": {"result_retention_days": 7}})})
    for rid in (kept, gone, short):
        store.db["contamination"].insert({"run_id": rid, "suite": "gsm", "cs": 0.1})
    store.close()
    assert modeleval(["prune", "--db", str(db), "--older-than-days", "30"]) == 0
    assert "deleted 2 runs" in out(capsys)
    assert [r["id"] for r in query(db, "SELECT id FROM runs")] == [kept]
    assert [r["run_id"] for r in query(db, "SELECT run_id FROM contamination")] == [kept]  # no orphans


def test_gate_gates_a_recorded_run_such_as_a_merged_one(db, capsys):
    add_run(db, A, {"qa": [1] * 20})
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db)]) == 0
    add_run(db, B, {"qa": [1] * 5 + [0] * 15}, gate_status=None)  # e.g. written by modeleval merge
    capsys.readouterr()
    assert modeleval(["gate", "2", "--db", str(db)]) == 10
    text = out(capsys)
    assert "baseline: run 1 (production, sha256:aaaaaaaaaaaa)" in text
    assert "GATES FAILED: 1 of 1 (exit status 10)" in text
    [row] = query(db, "SELECT gate_status, gates_failed, baseline_run_id FROM runs WHERE id = 2")
    assert row == {"gate_status": "failed", "gates_failed": 1, "baseline_run_id": 1}
    assert query(db, "SELECT gate, verdict FROM gates WHERE run_id = 2") == [{"gate": "no-regression", "verdict": "fail"}]
    assert modeleval(["gate", "1", "--db", str(db)]) == 0  # production against itself
    assert "gates passed: 1 of 1" in out(capsys)
    assert modeleval(["gate", "2", "--db", str(db), "--baseline", "yesterday"]) == 2
    assert "--baseline 'yesterday': must be sha256:" in out(capsys)


def test_promoting_a_partial_run_says_the_baseline_is_partial(db, capsys):
    rid = add_run(db, A, {"qa": [1, 1]})
    store = Store(db)
    store.update_run(rid, {"eval_limit": 2})
    store.close()
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(db)]) == 0
    assert "note: run 1 evaluated part of each suite (--eval-limit 2)" in out(capsys)
