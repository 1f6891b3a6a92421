"""`modeleval comment RUN [--baseline RUN]` on a results DB built here through the Store (what a session writes):
the recorded gates, the items that flipped against the baseline, the dashboard; milliseconds, no model."""

from __future__ import annotations

from markdown_it import MarkdownIt

from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.store import Store

A, B = "a" * 64, "b" * 64
FAILED_GATE = {"suite": "qa", "gate": "no-regression", "metric": "score", "kind": "regression", "verdict": "fail",
               "n": 4, "value": 0.25, "baseline_value": 1.0, "delta": -0.75, "ci_lo": -1.0, "ci_hi": -0.5,
               "p_value": 0.25, "p_adjusted": 0.25, "message": "score fell 75.0 pts against baseline run 1"}


def add_run(path, model: str, answers: list[int], *, baseline: int | None = None, gates=(), exit_status=0,
            first: int = 0) -> int:
    store = Store(path)
    rid = store.start_run({"model_ref": f"ckpt-{model[0]}", "model_hash": model, "model_kind": "hf-dir"})
    for i, right in enumerate(answers, start=first):
        store.add_outcome(rid, {"suite": "qa", "item_id": f"qa-{i:04d}-p0", "test_id": f"t::qa[{i}]",
                                "outcome": "correct" if right else "wrong", "score": float(right)})
    for gate in gates:
        store.db["gates"].insert({"run_id": rid, **gate, "baseline_run_id": baseline})
    store.finish_run(rid, exit_status)
    store.update_run(rid, {"baseline_run_id": baseline, "gate_status": "failed" if gates else "passed",
                           "gates_failed": len(gates)})
    store.close()
    return rid


def test_comment_prints_the_recorded_gates_and_the_flips_against_the_gates_baseline(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    db = tmp_path / "results.sqlite"
    add_run(db, A, [1, 1, 1, 0])
    add_run(db, B, [1, 0, 0, 1], baseline=1, gates=[FAILED_GATE], exit_status=10)
    assert modeleval(["comment", "latest", "--db", str(db)]) == 0
    page = capsys.readouterr().out
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<h2>❌ modeleval: run 2: ckpt-b (sha256:bbbbbbbbbbbb)</h2>" in html
    assert "<strong>GATES FAILED: 1 of 1 (exit status 10)</strong>" in html
    assert "<td>qa</td>\n<td>no-regression</td>" in html and ">-75.0 pts</td>" in html
    assert "Items that flipped against run 1 (sha256:aaaaaaaaaaaa)" in page
    assert "| qa | qa\\-0001\\-p0 |" not in page  # ids are escaped only where markdown needs it
    assert "| qa | qa-0001-p0 | correct | wrong |" in page and "| qa | qa-0003-p0 | wrong | correct |" in page
    assert f"build it with `modeleval report --html modeleval-dashboard --db {db}`" in page


def test_comment_with_another_baseline_and_the_workflow_run_as_the_dashboard(tmp_path, capsys, monkeypatch):
    for name, value in (("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "o/r"),
                        ("GITHUB_RUN_ID", "42")):
        monkeypatch.setenv(name, value)
    db = tmp_path / "results.sqlite"
    add_run(db, A, [1, 1, 1, 0])
    add_run(db, A, [0, 1, 1, 1])
    add_run(db, B, [1, 1, 1, 0])  # no baseline: its gates were not compared with anything
    assert modeleval(["comment", "3", "--db", str(db)]) == 0
    page = capsys.readouterr().out
    assert "Baseline: none" in page and "flipped" not in page
    assert "[https://github.com/o/r/actions/runs/42](https://github.com/o/r/actions/runs/42)" in page
    assert modeleval(["comment", "3", "--baseline", "2", "--db", str(db), "--dashboard-url", "https://x/a b"]) == 0
    page = capsys.readouterr().out
    assert "Items that flipped against run 2" in page and "| qa | 1 | 1 |" in page
    assert "(https://x/a%20b)" in page
    assert modeleval(["comment", "3", "--baseline", "3", "--db", str(db)]) == 2
    assert "--baseline 3 is run 3 itself" in capsys.readouterr().err


def test_comment_on_a_run_group_reads_its_union_run(tmp_path, capsys):
    from pytest_modeleval.results.rungroup import RunGroup

    db = tmp_path / "results.sqlite"
    for k in (1, 2):
        rid = add_run(db, B, [1, k % 2], first=2 * k)  # each shard its own items
        store = Store(db)
        store.update_run(rid, {"run_group": "pipeline-7", "shard": f"{k}/2"})
        store.close()
    assert modeleval(["comment", "group:pipeline-7", "--db", str(db)]) == 1  # nothing builds the union here
    assert "shards in: 1/2, 2/2 (complete): no union run yet" in capsys.readouterr().err
    store = Store(db)
    union = RunGroup(store, B, "pipeline-7").union()
    store.close()
    assert modeleval(["comment", "group:pipeline-7", "--db", str(db)]) == 0
    assert f"modeleval: run {union}: ckpt-b" in capsys.readouterr().out
    assert modeleval(["comment", "group:nope", "--db", str(db)]) == 2
    assert "there is no run group 'nope'" in capsys.readouterr().err
