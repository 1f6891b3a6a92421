"""The dashboard's item chunks: a source item's variants and repeated samples stay together, in order, so its
page shows them side by side."""

from __future__ import annotations

from pytest_modeleval.report.items import source_item, write_run_items
from pytest_modeleval.results.store import Store


def test_an_items_samples_share_its_page_in_numeric_order(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    run = store.start_run({"model_hash": "ab" * 32})
    ids = [f"rep-{i:04d}-p0-s{k}" for i in (1, 0) for k in (11, 2, 0, 10, 1)]  # written out of order
    for item_id in ids:
        store.add_outcome(run, {"suite": "rep", "item_id": item_id, "variant": 0, "test_id": f"t[{item_id}]",
                                "outcome": "correct", "score": 1.0})
    store.flush()
    written: dict = {}
    manifest = write_run_items(store.db, run, {"rep": "rep"}, written.__setitem__)
    store.close()
    (chunk,) = written.values()
    assert [row[0] for row in chunk["rows"]] == [f"rep-{i:04d}-p0-s{k}" for i in (0, 1) for k in (0, 1, 2, 10, 11)]
    assert manifest["rep"]["chunks"][0][:3] == ["rep-0000", "rep-0001", 10]
    assert source_item("rep-0003-p2") == source_item("rep-0003-p0-s7") == "rep-0003"
