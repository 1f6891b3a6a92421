"""One comparison of two runs (gates/comparison.py): `modeleval compare` and the dashboard's compare data give the
same figures, the family correction included."""

from __future__ import annotations

import re

import pytest

from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.gates.comparison import RunItems, compare_runs
from pytest_modeleval.gates.display import fmt, fmt_delta, fmt_p
from pytest_modeleval.report.compare import RunValues, compare
from pytest_modeleval.results.db import Database
from pytest_modeleval.results.store import Store


def add_run(path, model: str, suites: dict[str, list], metrics: dict | None = None) -> int:
    """suite -> list of scores (1/0 right/wrong, a fraction for a graded item) or None (an error)."""
    store = Store(path)
    rid = store.start_run({"model_ref": f"ckpt-{model[0]}", "model_hash": model * 64, "model_kind": "hf-dir"})
    for suite, values in suites.items():
        for i, value in enumerate(values):
            outcome = "error" if value is None else ("correct" if value >= 0.5 else "wrong")
            item_metrics = {name: vals[i] for name, vals in (metrics or {}).get(suite, {}).items()} or None
            store.add_outcome(rid, {"suite": suite, "item_id": f"{suite}-{i:04d}-p0", "test_id": f"t::{suite}[{i}]",
                                    "outcome": outcome, "score": None if value is None else float(value),
                                    "metrics": item_metrics if value is not None else None})
    store.finish_run(rid, 0)
    store.close()
    return rid


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    """Run 1 and run 2: suites that fell, held, improved on graded items, lost items, vanished and errored."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "results.sqlite"
    graded_a = [0.2, 0.9, 0.5, 0.7, 0.4, 0.8, 0.6, 0.3, 0.9, 0.1] * 2
    graded_b = [min(1.0, v + 0.15) for v in graded_a]
    f1 = {"graded": {"f1": graded_a}}
    add_run(db, "a", {"fell": [1] * 30, "held": [1, 0] * 10, "graded": graded_a, "old": [1, 1],
                      "broken": [1, 0, 1]}, metrics=f1)
    add_run(db, "b", {"fell": [0] * 9 + [1] * 19, "held": [1, 0] * 9 + [0, 1], "graded": graded_b,
                      "broken": [None, None, None]}, metrics={"graded": {"f1": graded_b}})
    return db


def cli_rows(capsys, argv) -> tuple[dict, str]:
    """`modeleval compare`'s table as {(suite, metric): columns}, and all it printed."""
    assert modeleval(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("suite"))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("(p adj"):
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[(cells[0], cells[1])] = cells[2:]
    return rows, text


def page_rows(db, correction) -> dict:
    """The dashboard's data for the pair (what `modeleval report` writes), formatted as the command formats it."""
    handle = Database(db, readonly=True)
    try:
        data = compare(RunValues(handle, 1), RunValues(handle, 2), correction=correction)
    finally:
        handle.close()
    rows = {}
    for s in data["suites"]:
        if "n" not in s:
            continue
        ci = (f"[{fmt_delta(s['ci_lo'], s['proportion']).replace(' pts', '')}, "
              f"{fmt_delta(s['ci_hi'], s['proportion']).replace(' pts', '')}]")
        rows[(s["suite"], "score")] = [str(s["n"]), fmt(s["mean_a"], s["proportion"]), fmt(s["mean_b"], s["proportion"]),
                                       fmt_delta(s["delta"], s["proportion"]), ci, fmt_p(s["p_value"]),
                                       fmt_p(s["p_adjusted"]), s["test"]]
    return rows, data


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "none"])
def test_the_command_and_the_dashboard_give_the_same_figures(two_runs, capsys, correction):
    if correction != "holm":  # holm is the gates' default: no pyproject.toml needed
        (two_runs.parent / "pyproject.toml").write_text(f'[tool.modeleval.gates]\ncorrection = "{correction}"\n')
    cli, text = cli_rows(capsys, ["compare", "1", "2", "--db", str(two_runs), "--metric", "score"])
    page, data = page_rows(two_runs, correction)
    assert sorted(cli) == sorted(page) == [("fell", "score"), ("graded", "score"), ("held", "score")]
    assert cli == page
    assert data["correction"] == correction and data["family_size"] == 3
    assert f"over the {data['family_size']} comparisons" in text
    # the correction is applied, not only named: the fall's p grows with the family (two of three tests are null)
    raw, adjusted = cli[("fell", "score")][5], cli[("fell", "score")][6]
    assert (adjusted == raw) == (correction == "none")
    # the suites not compared say why, on both faces
    notes = {s["suite"]: s.get("note") for s in data["suites"]}
    assert notes["old"] == "only in run 1" and "old: only in run 1" in text
    assert notes["broken"] == "no answered items with a score in run 2" and "broken: no answered items in run 2" in text


def test_the_command_s_default_family_adds_the_metrics_both_runs_record(two_runs, capsys):
    cli, text = cli_rows(capsys, ["compare", "1", "2", "--db", str(two_runs)])
    assert ("graded", "f1") in cli and "over the 4 comparisons" in text
    handle = Database(two_runs, readonly=True)
    try:
        result = compare_runs(RunItems.read(handle, 1), RunItems.read(handle, 2))
    finally:
        handle.close()
    assert result.family_size == 4
    by_key = {(row.suite, row.metric): row for row in result.rows if row.paired}
    assert cli[("graded", "f1")][6] == fmt_p(by_key[("graded", "f1")].p_adjusted)


def test_modeleval_report_adjusts_its_comparisons_by_the_project_s_correction(two_runs, capsys):
    """The dashboard the command writes reads [tool.modeleval.gates] correction, as `modeleval compare` does."""
    import json

    (two_runs.parent / "pyproject.toml").write_text('[tool.modeleval.gates]\ncorrection = "bonferroni"\n')
    out = two_runs.parent / "site"
    assert modeleval(["report", "--db", str(two_runs), "--html", str(out)]) == 0
    script = (out / "data" / "compare" / "1-2.js").read_text()
    data = json.loads(script[script.index("{"):script.rindex("}") + 1])
    assert data["correction"] == "bonferroni"
    cli, _ = cli_rows(capsys, ["compare", "1", "2", "--db", str(two_runs), "--metric", "score"])
    fell = next(s for s in data["suites"] if s["suite"] == "fell")
    assert fmt_p(fell["p_adjusted"]) == cli[("fell", "score")][6]
