"""`modeleval report`: bad inputs get one clear line and a non-zero status; `--serve` rebuilds and compares on request."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from evalkit import query
from reportkit import build, synthetic_db
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.report import ReportError
from pytest_modeleval.report.server import LiveDashboard, make_server
from pytest_modeleval.results.store import Store


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("report-cli") / "results.sqlite"
    synthetic_db(db, runs=4, items=120)
    return db


def report(capsys, *args) -> tuple[int, str]:
    status = modeleval(["report", *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_bad_inputs_are_named_with_a_non_zero_status(tmp_path, small_db, capsys):
    missing = tmp_path / "nowhere.sqlite"
    status, text = report(capsys, "--html", str(tmp_path / "out"), "--db", str(missing))
    assert status == 2 and f"results database {missing} does not exist" in text

    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    status, text = report(capsys, "--html", str(tmp_path / "out"), "--db", str(empty))
    assert status == 2 and f"results database {empty} holds no runs" in text

    status, text = report(capsys, "--html", str(tmp_path / "out"), "--db", str(small_db), "--compare", "1", "99")
    assert status == 2 and "there is no run 99 (runs go up to 4)" in text

    a_file = tmp_path / "report.html"
    a_file.write_text("not a directory")
    status, text = report(capsys, "--html", str(a_file), "--db", str(small_db))
    assert status == 2 and f"{a_file} is a file, not a directory" in text
    assert a_file.read_text() == "not a directory"

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    status, text = report(capsys, "--html", str(foreign), "--db", str(small_db))
    assert status == 2 and "is not empty and holds no earlier dashboard" in text
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1

    status, text = report(capsys, "--db", str(small_db))
    assert status == 2 and "--html DIR writes the dashboard, --serve serves it" in text
    status, text = report(capsys, "--html", str(tmp_path / "out"), "--db", str(small_db), "--item-runs", "-1")
    assert status == 2 and "--item-runs must be 0" in text
    assert not (tmp_path / "out").exists()  # nothing written on a bad argument


def test_html_writes_every_page_and_a_rebuild_replaces_its_data(tmp_path, small_db, capsys):
    out = build(small_db, tmp_path / "dash", "--compare", "1", "4", "--item-runs", "2")
    text = capsys.readouterr().out
    assert "4 runs, 7 suites, item data for 2 runs" in text and f"open {out / 'index.html'}" in text
    for page in ("index", "suite", "gates", "compare", "items", "item", "judge", "redteam", "contamination"):
        html = (out / f"{page}.html").read_text()
        assert f'data-page="{page}"' in html and "http" not in html  # nothing from the network
    assert (out / "data" / "compare" / "1-4.js").is_file() and (out / "data" / "compare" / "3-4.js").is_file()
    assert sorted(p.name for p in (out / "data" / "items").iterdir()) == ["3", "4"]
    summary = (out / "data" / "summary.js").read_text()
    data = json.loads(summary[summary.index(",") + 1:summary.rindex(")")])
    assert [r["id"] for r in data["runs"]] == [1, 2, 3, 4] and "1-4" in data["pairs"]
    stale = out / "data" / "compare" / "2-9.js"
    stale.write_text("stale")
    build(small_db, out)
    assert not stale.exists() and sorted(p.name for p in (out / "data" / "items").iterdir()) == ["1", "2", "3", "4"]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # the loopback server this test started
        return response.read().decode("utf-8")


@pytest.fixture
def served_db(results_db, small_db):
    """The small history on each backend: the SQLite file, or its copy in a PostgreSQL DB (`modeleval db copy`)."""
    if "://" in str(results_db):
        assert modeleval(["db", "copy", str(small_db), results_db]) == 0
    else:
        results_db.write_bytes(small_db.read_bytes())
    return results_db


def test_serve_compares_any_two_runs_and_rebuilds_when_the_db_changes(tmp_path, served_db):
    db = served_db
    live = LiveDashboard(db, tmp_path / "served", db_label="the results DB")
    live.refresh()
    server = make_server(live, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert 'data-page="index"' in get(f"{base}/")
        assert not (tmp_path / "served" / "data" / "compare" / "1-3.js").exists()  # not a default pair
        text = get(f"{base}/data/compare/1-3.js")
        data = json.loads(text[text.index(",") + 1:text.rindex(")")])
        a = {r["item_id"]: r["score"] for r in query(db, "SELECT * FROM outcomes WHERE run_id = 1 AND suite = 'mc'")}
        b = {r["item_id"]: r["score"] for r in query(db, "SELECT * FROM outcomes WHERE run_id = 3 AND suite = 'mc'")}
        [mc] = [s for s in data["suites"] if s["suite"] == "mc"]
        assert mc["delta"] == pytest.approx(sum(b.values()) / len(b) - sum(a.values()) / len(a))
        assert "there is no run 77" in get(f"{base}/data/compare/1-77.js")  # the page shows this message

        store = Store(db)  # a new run lands while the server runs: the next page view has it
        rid = store.start_run({"model_ref": "late", "model_hash": "f" * 64})
        store.add_outcome(rid, {"suite": "mc", "item_id": "mc-0000-p0", "test_id": "t[mc-0000-p0]", "outcome": "correct",
                                "score": 1.0})
        store.finish_run(rid, 0)
        store.close()
        get(f"{base}/index.html")
        summary = get(f"{base}/data/summary.js")
        assert '"model_ref":"late"' in summary
    finally:
        server.shutdown()
        server.server_close()
    with make_server(live, "127.0.0.1", 0) as first:
        with pytest.raises(ReportError, match="cannot listen on 127.0.0.1:"):
            make_server(live, "127.0.0.1", first.server_address[1])
