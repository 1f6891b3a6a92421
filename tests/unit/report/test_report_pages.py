"""The dashboard in headless Chromium on a many-run DB: every page drawn, its numbers equal to the DB's.

The DB is benchmarks/report_100_runs.py's synthetic one at a small size (12 runs x 600 items: a broken
checkpoint the real gate code blocks, an overridden failure, promotions, a judged, two red-team and a
perturbed suite with a contamination audit). Expected values come from SQL on that DB, never from the
report's own code; each page is screenshotted under tmp_path.
"""

from __future__ import annotations

import json

import pytest

from evalkit import query
from pytest_modeleval.gates.display import fmt_p
from reportkit import Pages, build, close_browser, launch_browser, pct, synthetic_db


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    db = root / "results.sqlite"
    facts = synthetic_db(db, runs=12, items=600)
    out = build(db, root / "dashboard")
    return db, out, facts


@pytest.fixture(scope="module")
def browser():
    manager, browser = launch_browser()
    yield browser
    close_browser(manager, browser)


@pytest.fixture
def pages(browser, site, tmp_path):
    pages = Pages(browser, site[1], tmp_path / "screenshots")
    yield pages
    pages.close()


def scores(db, run_id, suite=None):
    """item -> score of the run's answered items (of one suite)."""
    where = " AND suite = ?" if suite else ""
    rows = query(db, f"SELECT item_id, suite, score FROM outcomes WHERE run_id = ? AND outcome IN ('correct', 'wrong')"
                     f"{where}", run_id, *([suite] if suite else []))
    return {(r["suite"], r["item_id"]): r["score"] for r in rows}


def test_overview_lists_every_run_with_its_score_gates_and_promotion(pages, site):
    db, _, facts = site
    page = pages.open("index.html")
    runs = query(db, "SELECT * FROM runs ORDER BY id DESC")
    assert page.locator("#runs tbody tr").count() == len(runs) == 12
    for run in runs:
        values = scores(db, run["id"]).values()
        row = f'#runs tr[data-run="{run["id"]}"]'
        assert pages.value(f'{row} td[data-col="score"]') == pytest.approx(sum(values) / len(values))
        assert pages.cell(f'{row} td[data-col="score"]') == pct(sum(values) / len(values))
        assert run["gate_status"] in pages.cell(f'{row} td[data-col="gates"]')
        assert ("review" in pages.cell(f'{row} td[data-col="review"]')) == bool(run["review_required"])
    production = query(db, "SELECT run_id FROM promotions WHERE channel = 'production' ORDER BY id DESC")[0]["run_id"]
    assert pages.cell(f'#runs tr[data-run="{production}"] td[data-col="promoted"]') == "production"
    # one score chart per suite, its points the suite's mean score per run, oldest run first
    arith = [d for d in pages.chart("score-arith") if d["label"] == "mean score"][0]["data"]
    expected = []
    for run in reversed(runs):
        values = [v for (s, _), v in scores(db, run["id"]).items() if s == "arith"]
        expected.append(sum(values) / len(values))
    assert arith == pytest.approx(expected)
    stars = [d for d in pages.chart("score-arith") if d["label"] == "promoted"][0]["data"]
    promoted = {r["run_id"] for r in query(db, "SELECT run_id FROM promotions")}
    assert [v is not None for v in stars] == [run["id"] in promoted for run in reversed(runs)]


def test_suite_page_draws_every_gated_metric_with_its_interval_band(pages, site):
    db, _, facts = site
    pages.open("suite.html#suite=help")
    charts = pages.page.evaluate("[...document.querySelectorAll('canvas')].map(c => c.id)")
    assert charts == ["metric-score", "metric-win_rate"]
    win = {d["label"]: d["data"] for d in pages.chart("metric-win_rate")}
    gates = query(db, "SELECT run_id, value, ci_lo, ci_hi FROM gates WHERE suite = 'help' AND gate = 'win-rate' "
                      "ORDER BY run_id")
    assert win["judge win rate"] == pytest.approx([g["value"] for g in gates])
    assert win["judge win rate lower"] == pytest.approx([g["ci_lo"] for g in gates])
    assert win["judge win rate 95% interval"] == pytest.approx([g["ci_hi"] for g in gates])
    broken = facts["broken"]
    assert pages.cell(f'#suite-runs tr[data-run="{broken}"] td[data-col="verdict"]') == "fail"
    refusal = query(db, "SELECT value FROM gates WHERE suite = 'refusal' AND gate = 'refusal' AND run_id = ?", broken)
    pages.open("suite.html#suite=refusal")
    assert pages.value(f'#suite-runs tr[data-run="{broken}"] td[data-col="refusal_rate"]') == \
        pytest.approx(refusal[0]["value"])


def test_gate_history_names_the_blocked_checkpoint_the_reason_and_the_override(pages, site):
    db, _, facts = site
    pages.open("gates.html")
    failed = query(db, "SELECT * FROM gates WHERE verdict IN ('fail', 'overridden') ORDER BY run_id")
    assert pages.page.locator("#gate-table tbody tr").count() == len(failed)
    [gate] = query(db, "SELECT * FROM gates WHERE run_id = ? AND suite = 'arith' AND gate = 'no-regression'",
                   facts["broken"])
    row = f'#gate-table tr[data-run="{facts["broken"]}"][data-suite="arith"][data-gate="no-regression"]'
    assert pages.cell(f"{row} td[data-col=verdict]") == "fail"
    assert pages.cell(f"{row} td[data-col=message]") == gate["message"]
    assert gate["message"].startswith("score fell") and "McNemar exact" in gate["message"]
    # family-wise control and power: the adjusted p and the detectable fall, as the DB holds them
    assert pages.cell(f"{row} td[data-col=p]") == fmt_p(gate["p_value"])
    assert pages.cell(f"{row} td[data-col=p_adjusted]") == fmt_p(gate["p_adjusted"])
    assert gate["p_adjusted"] >= gate["p_value"] and gate["correction"] == "holm" and gate["family_size"] >= 1
    assert pages.cell(f"{row} td[data-col=detectable]") == f"{100 * gate['detectable']:.1f} pts"
    [over] = query(db, "SELECT * FROM gates WHERE verdict = 'overridden'")
    assert over["run_id"] == facts["overridden"]
    row = f'#gate-table tr[data-run="{over["run_id"]}"][data-suite="{over["suite"]}"]'
    assert pages.cell(f"{row} td[data-col=verdict]") == "overridden"
    assert json.loads(over["override"])["reason"] in pages.cell(f"{row} td[data-col=override]")
    applied = json.loads(query(db, "SELECT overrides FROM runs WHERE id = ?", over["run_id"])[0]["overrides"])["applied"]
    assert pages.cell("#overrides-applied tbody td[data-col=reason]") == applied[0]["reason"]
    # the filters: every verdict of one run
    pages.open(f"gates.html#verdict=all&run={facts['broken']}")
    assert pages.page.locator("#gate-table tbody tr").count() == \
        len(query(db, "SELECT 1 FROM gates WHERE run_id = ?", facts["broken"]))
    verdicts = pages.chart("verdicts")
    assert [d["label"] for d in verdicts] == ["fail", "overridden", "underpowered", "pass", "n/a"]
    assert sum(d["data"][facts["broken"] - 1] for d in verdicts) == \
        len(query(db, "SELECT 1 FROM gates WHERE run_id = ?", facts["broken"]))


def test_compare_gives_the_paired_difference_and_the_flipped_items(pages, site):
    db, _, facts = site
    baseline = query(db, "SELECT baseline_run_id FROM runs WHERE id = ?", facts["broken"])[0]["baseline_run_id"]
    pages.open(f"compare.html#a={baseline}&b={facts['broken']}")
    a, b = scores(db, baseline, "mc"), scores(db, facts["broken"], "mc")
    shared = sorted(a.keys() & b.keys())
    delta = sum(b[k] for k in shared) / len(shared) - sum(a[k] for k in shared) / len(shared)
    row = '#compare-table tr[data-suite="mc"]'
    assert pages.value(f"{row} td[data-col=delta]") == pytest.approx(delta)
    assert pages.cell(f"{row} td[data-col=n]") == str(len(shared))
    [gate] = query(db, "SELECT * FROM gates WHERE run_id = ? AND suite = 'mc' AND gate = 'no-regression'", facts["broken"])
    assert pages.value(f"{row} td[data-col=p]") == pytest.approx(gate["p_value"])  # the gate's own test, same p
    lo, hi = pages.cell(f"{row} td[data-col=ci]").strip("[]").split(", ")
    assert (lo, hi) == (f"{100 * gate['ci_lo']:+.1f} pts", f"{100 * gate['ci_hi']:+.1f} pts")
    to_wrong = sorted(k[1] for k in shared if a[k] == 1 and b[k] == 0)
    assert pages.cell(f"{row} td[data-col=to-wrong]") == str(len(to_wrong))
    pages.open(f"compare.html#a={baseline}&b={facts['broken']}&flip=to-wrong&flipsuite=mc")
    assert pages.page.locator("#flips tbody tr").count() == min(50, len(to_wrong))
    flipped = pages.page.locator(f'#flips tr[data-suite="mc"][data-item="{to_wrong[0]}"]')
    assert flipped.locator("td[data-col=from]").inner_text() == "correct"
    assert flipped.locator("td[data-col=to]").inner_text() == "wrong"
    # the same pair the other way round is mirrored from the stored one
    pages.open(f"compare.html#a={facts['broken']}&b={baseline}")
    assert pages.value(f"{row} td[data-col=delta]") == pytest.approx(-delta)
    assert pages.cell(f"{row} td[data-col=to-correct]") == str(len(to_wrong))
    # a pair the static build did not compute says how to get it
    pages.open("compare.html#a=2&b=9")
    assert "--compare 2 9" in pages.cell(".missing-pair")


def test_item_drill_down_shows_the_variants_side_by_side_with_the_library(pages, site):
    db, _, facts = site
    run = facts["contaminated"][0]
    pages.open(f"item.html#run={run}&suite=gsm_pert&item=gsm_pert-0003-p1")
    outcomes = query(db, "SELECT * FROM outcomes WHERE run_id = ? AND item_id LIKE 'gsm_pert-0003-p%' ORDER BY variant", run)
    assert len(outcomes) == 4
    for o in outcomes:
        card = pages.page.locator(f'.variant[data-item="{o["item_id"]}"]')
        assert card.locator("[data-field=prompt]").inner_text() == o["prompt"]
        assert card.locator("[data-field=response]").inner_text() == o["response"]
        assert o["outcome"] in card.locator("h3").inner_text()
    library = query(db, "SELECT * FROM variants WHERE source_id = 'gsm_pert-0003-p0' ORDER BY id")
    rows = pages.page.locator("#variant-library tbody tr")
    assert rows.count() == len(library) == 5
    for i, v in enumerate(library):
        assert rows.nth(i).locator("td[data-col=text]").inner_text() == v["text"]
        assert float(rows.nth(i).locator("td[data-col=distance]").get_attribute("data-value")) == pytest.approx(v["distance"])
    # "as" comes from the library row each outcome recorded (the synthetic DB maps -p1 to the last kept
    # candidate, not the first, so a guess from the library's order would be wrong)
    became = {o["variant_id"]: f"-p{o['variant']}" for o in outcomes if o["variant"]}
    assert sorted(became.values()) == ["-p1", "-p2", "-p3"] and library[0]["id"] != next(iter(became))
    assert [rows.nth(i).locator("td[data-col=as]").inner_text() for i in range(len(library))] == \
        [became.get(v["id"], "") for v in library]
    assert pages.page.locator(f'.variant[data-item="gsm_pert-0003-p1"] [data-field=prompt]').inner_text() == \
        next(v["text"] for v in library if became.get(v["id"]) == "-p1")
    # the item's row of the contamination evidence table, beside its variants
    (ev,) = query(db, "SELECT * FROM contamination_items WHERE run_id = ? AND item_id = 'gsm_pert-0003-p0'", run)
    evidence = pages.page.locator("#item-evidence")
    assert evidence.locator("[data-field=verdict]").inner_text() == ev["evidence_verdict"]
    assert evidence.locator("[data-field=membership]").inner_text() == \
        f"{pct(ev['membership_pct'])} of {ev['membership_basis']}"
    assert evidence.locator("[data-field=min-k]").inner_text() == f"{ev['min_k']:.3f}"
    assert evidence.locator("[data-field=perturbation]").inner_text().endswith(
        f"over {ev['n_variants']} variants: {'flagged' if ev['flagged'] else 'not flagged'}")
    assert evidence.locator("[data-field=overlap]").inner_text().startswith(f"{ev['overlap_shared']} of 20 n-grams")


def test_items_are_paged_by_chunks_and_filtered_by_outcome(pages, site):
    db, _, _ = site
    pages.open("items.html#run=3&suite=arith&outcome=wrong")
    wrong = query(db, "SELECT item_id FROM outcomes WHERE run_id = 3 AND suite = 'arith' AND outcome = 'wrong' "
                      "ORDER BY item_id")
    shown = pages.page.locator("#items-table tbody tr")
    assert [shown.nth(i).get_attribute("data-item") for i in range(shown.count())] == [r["item_id"] for r in wrong]


def test_contamination_judge_and_red_team_pages_match_the_db(pages, site):
    db, _, facts = site
    pages.open("contamination.html")
    for row in query(db, "SELECT run_id, cs, verdict, review_required FROM contamination"):
        cell = f'#contamination-table tr[data-run="{row["run_id"]}"]'
        assert pages.value(f"{cell} td[data-col=cs]") == pytest.approx(row["cs"])
        assert pages.cell(f"{cell} td[data-col=verdict]") == row["verdict"]
    assert pages.page.locator("#review-runs tbody tr").count() == len(facts["contaminated"])
    top = query(db, "SELECT item_id, cs FROM contamination_items WHERE run_id = 12 ORDER BY flagged DESC, cs DESC, item_id")
    first = pages.page.locator("#contamination-items tbody tr").first
    assert first.get_attribute("data-item") == top[0]["item_id"]

    pages.open("judge.html")
    for row in query(db, "SELECT run_id, win_rate, first_slot_rate FROM suites WHERE suite = 'help'"):
        cell = f'#judge-table tr[data-run="{row["run_id"]}"]'
        assert pages.value(f"{cell} td[data-col=win-rate]") == pytest.approx(row["win_rate"])
        assert pages.value(f"{cell} td[data-col=first-slot]") == pytest.approx(row["first_slot_rate"])
    shown_first = query(db, "SELECT outcome FROM judgments WHERE run_id = 1 AND candidate_slots = '[\"A\"]'")
    rate = sum({"win": 1, "tie": 0.5, "loss": 0}[r["outcome"]] for r in shown_first) / len(shown_first)
    assert pages.cell('#judge-table tr[data-run="1"] td[data-col=slot-a]') == f"{pct(rate)} of {len(shown_first)}"

    broken = facts["broken"]
    pages.open(f"redteam.html#run={broken}")
    for row in query(db, "SELECT kind, category, COUNT(*) AS n, SUM(refused) AS refused FROM refusals "
                         "WHERE run_id = ? GROUP BY kind, category", broken):
        cell = f'#refusal-table tr[data-kind="{row["kind"]}"][data-category="{row["category"]}"]'
        assert pages.cell(f"{cell} td[data-col=n]") == str(row["n"])
        assert pages.value(f"{cell} td[data-col=rate]") == pytest.approx(row["refused"] / row["n"])
    by_category = pages.chart("refusal-by-category")
    assert len(by_category[1]["data"]) == pages.page.locator("#refusal-table tbody tr").count()


def test_an_items_repeated_samples_share_its_page(browser, tmp_path):
    """A suite with samples=K: the item page shows the item's K samples side by side, in order."""
    from pytest_modeleval.results.store import Store

    db = tmp_path / "samples.sqlite"
    store = Store(db)
    run = store.start_run({"model_hash": "ab" * 32})
    for k in (2, 0, 10, 1):
        right = k != 1
        store.add_outcome(run, {"suite": "rep", "item_id": f"rep-0003-p0-s{k}", "variant": 0,
                                "test_id": f"t.py::test_rep[rep-0003-p0-s{k}]", "outcome": "correct" if right else "wrong",
                                "score": float(right), "response": f"answer {k}"})
    store.add_suite(run, {"suite": "rep", "source": "rep.jsonl", "n_rows": 4, "sample_seed": 0, "chat": 0, "samples": 4})
    store.finish_run(run, 0)
    store.close()
    pages = Pages(browser, build(db, tmp_path / "dashboard"), tmp_path / "screenshots")
    try:
        pages.open(f"item.html#run={run}&suite=rep&item=rep-0003-p0-s1")
        cards = pages.page.locator(".variant")
        assert [cards.nth(i).get_attribute("data-item") for i in range(cards.count())] == \
            [f"rep-0003-p0-s{k}" for k in (0, 1, 2, 10)]
        assert "The item's 4 samples in run 1 (3 correct)" in pages.page.inner_text("main")
        assert cards.nth(3).locator("[data-field=response]").inner_text() == "answer 10"
    finally:
        pages.close()
