"""The dashboard of real runs on the embedded model (SmolLM2-135M), opened in headless Chromium.

Three pytest sessions through pytester, reusing the other end-to-end tests' suites and checkpoint:
run 1 the embedded model on test_gates_e2e's 20 easy multiple-choice items (then promoted to
production), run 2 a random-init checkpoint of the same shape on them (blocked by the no-regression
gate), run 3 the embedded model again with test_redteam_e2e's library suites and test_judge_e2e's
self-judged pairwise suite. The pages must show what the DB holds: the gate's verdict and message,
the items that flipped, refusal rates by category, the judge's win rate, the items' prompts.
"""

from __future__ import annotations

import json

import pytest

from evalkit import IMPORTS, one_thread_engine, query
from reportkit import Pages, build, close_browser, launch_browser, pct
from test_gates_e2e import ITEMS, SUITE as EASY_SUITE, broken_checkpoint  # noqa: F401 (a fixture)
from test_judge_e2e import JUDGE, ROWS as JUDGE_ROWS, SUITE as JUDGE_SUITE
from test_redteam_e2e import LIBRARY_SUITES
from pytest_modeleval.cli import main as modeleval

DB = ".modeleval/results.sqlite"


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


@pytest.fixture(scope="module")
def browser():
    manager, browser = launch_browser()  # before the runs: a missing browser skips (or fails in CI) at once
    yield browser
    close_browser(manager, browser)


def test_dashboard_of_real_runs(pytester, engine, broken_checkpoint, browser, tmp_path):  # noqa: F811
    path = pytester.path
    (path / "easy.jsonl").write_text("".join(json.dumps({"context": c, "choices": ch, "answer": a}) + "\n"
                                             for c, ch, a in ITEMS))
    (path / "test_easy.py").write_text(EASY_SUITE)
    (path / "test_redteam.py").write_text(IMPORTS + LIBRARY_SUITES)
    (path / "gen.jsonl").write_text("".join(json.dumps(row) + "\n" for row in JUDGE_ROWS))
    (path / "test_help.py").write_text(IMPORTS + JUDGE_SUITE.format(reference="{reference}"))
    run = lambda *args: pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)  # noqa: E731

    assert run("test_easy.py", "--model=embedded").ret == 0
    assert modeleval(["promote", "embedded", "--db", DB, "--note", "release 1"]) == 0
    assert run("test_easy.py", f"--model={broken_checkpoint}").ret == 10
    third = run("--model=embedded", *JUDGE, "--eval-gate-mode=report")
    assert third.ret == 0, third.stdout.str()
    db = path / DB
    out = build(db, tmp_path / "dashboard")
    pages = Pages(browser, out, tmp_path / "screenshots")
    try:
        page = pages.open("index.html")
        assert page.locator("#runs tbody tr").count() == 3
        assert pages.cell('#runs tr[data-run="1"] td[data-col="promoted"]') == "production"
        for rid in (1, 2, 3):
            [row] = query(db, "SELECT AVG(score) AS mean FROM outcomes WHERE run_id = ? AND outcome IN "
                              "('correct', 'wrong')", rid)
            assert pages.value(f'#runs tr[data-run="{rid}"] td[data-col="score"]') == pytest.approx(row["mean"])

        # the gate that blocked run 2, in the DB's own words
        pages.open("gates.html")
        [gate] = query(db, "SELECT * FROM gates WHERE run_id = 2 AND gate = 'no-regression'")
        assert gate["verdict"] == "fail"
        row = '#gate-table tr[data-run="2"][data-suite="easy_mc"][data-gate="no-regression"]'
        assert pages.cell(f"{row} td[data-col=verdict]") == "fail"
        assert pages.cell(f"{row} td[data-col=message]") == gate["message"]

        # run 1 -> run 2: the paired difference and the items the broken checkpoint got wrong
        pages.open("compare.html#a=1&b=2")
        before = {r["item_id"]: r["outcome"] for r in query(db, "SELECT * FROM outcomes WHERE run_id = 1")}
        after = {r["item_id"]: r["outcome"] for r in query(db, "SELECT * FROM outcomes WHERE run_id = 2")}
        flipped = sorted(i for i in before if {before[i], after.get(i)} == {"correct", "wrong"})
        assert flipped and pages.page.locator("#flips tbody tr").count() == len(flipped)
        first = pages.page.locator(f'#flips tr[data-item="{flipped[0]}"]')
        assert first.locator("td[data-col=from]").inner_text() == before[flipped[0]]
        assert first.locator("td[data-col=to]").inner_text() == after[flipped[0]]
        assert pages.value('#compare-table tr[data-suite="easy_mc"] td[data-col=delta]') == \
            pytest.approx(gate["delta"])

        # the drill-down of an item the broken checkpoint got wrong: the prompts it saw, its answer, the assertion
        lost = [i for i in flipped if after[i] == "wrong"][0]
        pages.open(f"item.html#run=2&suite=easy_mc&item={lost}")
        [item] = query(db, "SELECT * FROM outcomes WHERE run_id = 2 AND item_id = ?", lost)
        card = pages.page.locator(f'.variant[data-item="{lost}"]')
        assert card.locator("[data-field=prompt]").inner_text() == item["prompt"]
        assert card.locator("[data-field=response]").inner_text() == item["response"]
        assert card.locator("[data-field=message]").inner_text() == item["message"]
        assert card.locator("[data-field=test]").inner_text() == item["test_id"]

        # red team: refusal rate by category, as the refusals table has it
        pages.open("redteam.html#run=3")
        rows = query(db, "SELECT suite, kind, category, COUNT(refused) AS n, SUM(refused) AS refused FROM refusals "
                         "WHERE run_id = 3 GROUP BY suite, kind, category")
        assert rows and pages.page.locator("#refusal-table tbody tr").count() == len(rows)
        for r in rows:
            cell = f'#refusal-table tr[data-kind="{r["kind"]}"][data-category="{r["category"]}"] td[data-col=rate]'
            assert pages.cell(cell) == pct(r["refused"] / r["n"])

        # the judge: win rate and position bias of the self-judged suite
        pages.open("judge.html")
        [suite] = query(db, "SELECT * FROM suites WHERE run_id = 3 AND suite = 'help'")
        cell = '#judge-table tr[data-run="3"][data-suite="help"]'
        assert pages.cell(f"{cell} td[data-col=win-rate]") == (pct(suite["win_rate"]) if suite["win_rate"] is not None
                                                               else "–")
        assert pages.cell(f"{cell} td[data-col=counted]") == "no (unvalidated)"

        # the refusal gate's metric is drawn on the suite's page; no audit ran, so the contamination page says so
        pages.open("suite.html#suite=refusal")
        [rate] = query(db, "SELECT value FROM gates WHERE run_id = 3 AND gate = 'refusal'")
        drawn = {d["label"]: d["data"] for d in pages.chart("metric-refusal_rate")}
        assert drawn["refusal rate (harmful)"] == pytest.approx([rate["value"]])
        pages.open("contamination.html")
        assert "No contamination audit is recorded" in pages.cell("main")
    finally:
        pages.close()
