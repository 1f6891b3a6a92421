"""What `modeleval merge` carries beyond outcomes, and what `modeleval gate` recomputes for a merged run:
- each variant outcome stays tied to the library row it came from (libraries copied, variant_id renumbered);
- the judge's and red-team rows are copied, and the judge figures recomputed over all the items;
- `modeleval gate` scores contamination over the merged items (each shard scored only its own).
Shard DBs are real results DBs written through the Store, as a run writes them: SQLite files, and PostgreSQL
databases named by URL (the merge reads and writes both through results/)."""

from __future__ import annotations

import json

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.cli.merge import merge
from pytest_modeleval.results.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request, tmp_path):
    """name -> a results DB not created yet, on each backend: a SQLite path, or a fresh PostgreSQL DB's URL."""
    if request.param == "sqlite":
        return lambda name: tmp_path / f"{name}.sqlite"
    server = request.getfixturevalue("postgres_server")
    return lambda name: server.create_database()


def library_row(source: int, idx: int) -> dict:
    text = f"question {source}, variant {idx}"
    return {"suite": "gsm", "source_id": f"gsm-{source:04d}-p0", "source_sha256": f"{source:064x}",
            "generator": "numeric-gsm8k", "version": 1, "seed": 0, "idx": idx, "text": text,
            "fields": json.dumps({"question": text}), "distance": 0.03, "accepted": 1}


def shard(path, sources: list[int], library: list[tuple[int, int]]) -> None:
    """A shard DB whose library holds `library` (in that order, so ids differ between shards) and whose
    run has, per source, the canonical item and its -p1 from that source's idx 1 row."""
    store = Store(path)
    store.add_variants([library_row(s, i) for s, i in library])
    ids = {(r["source_id"], r["idx"]): r["id"] for r in query(path, "SELECT * FROM variants")}
    run = store.start_run({"model_hash": "a" * 64, "seed": 0})
    for s in sources:
        for variant in (0, 1):
            item = f"gsm-{s:04d}-p{variant}"
            store.add_outcome(run, {"suite": "gsm", "item_id": item, "variant": variant, "test_id": f"t[{item}]",
                                    "outcome": "correct", "score": 1.0,
                                    "variant_id": ids[(f"gsm-{s:04d}-p0", 1)] if variant else None})
    store.finish_run(run, 0)
    store.close()


def test_merged_outcomes_name_their_library_rows_in_the_merged_db(new_db):
    s1, s2, merged = new_db("s1"), new_db("s2"), new_db("merged")
    shard(s1, [0, 1], [(0, 0), (0, 1), (1, 0), (1, 1)])
    shard(s2, [2, 3], [(3, 1), (3, 0), (2, 1), (2, 0), (0, 0)])  # other ids, one shared row
    merge(merged, [s1, s2])
    library = {r["id"]: r for r in query(merged, "SELECT * FROM variants")}
    assert len(library) == 8, "each (source, generator, seed, idx) once"
    outcomes = query(merged, "SELECT * FROM outcomes WHERE variant = 1 ORDER BY item_id")
    assert [o["item_id"] for o in outcomes] == [f"gsm-{s:04d}-p1" for s in range(4)]
    for o in outcomes:
        row = library[o["variant_id"]]
        assert row["source_id"] == o["item_id"].replace("-p1", "-p0") and row["idx"] == 1
    assert all(o["variant_id"] is None for o in query(merged, "SELECT * FROM outcomes WHERE variant = 0"))


def perturbed_shard(path, sources: range, variants_right) -> None:
    """A shard run of suite gsm (3 variants per item): every canonical item right, and variant k of
    each source right when variants_right(source, k)."""
    store = Store(path)
    run = store.start_run({"model_hash": "a" * 64, "seed": 0})
    store.add_suite(run, {"suite": "gsm", "perturbations": 3, "cs_threshold": 0.1, "cs_alpha": 0.05})
    for s in sources:
        for k in range(4):
            item = f"gsm-{s:04d}-p{k}"
            right = k == 0 or variants_right(s, k)
            store.add_outcome(run, {"suite": "gsm", "item_id": item, "variant": k, "test_id": f"t[{item}]",
                                    "outcome": "correct" if right else "wrong", "score": float(right)})
    store.finish_run(run, 0)
    store.close()


def test_gate_scores_contamination_over_the_merged_items(tmp_path, capsys):
    # shard 1 alone shows no drop; shard 2 drops on every variant: only the merged run tells the whole suite
    perturbed_shard(tmp_path / "s1.sqlite", range(0, 12), lambda s, k: True)
    perturbed_shard(tmp_path / "s2.sqlite", range(12, 24), lambda s, k: False)
    merged = tmp_path / "merged.sqlite"
    run_id, _ = merge(merged, [tmp_path / "s1.sqlite", tmp_path / "s2.sqlite"])
    capsys.readouterr()
    assert modeleval(["gate", str(run_id), "--db", str(merged)]) == 10
    text = capsys.readouterr().out
    assert "contamination (CS =" in text and "suite-level verdict only" in text
    [row] = query(merged, "SELECT * FROM contamination WHERE run_id = ?", run_id)
    assert row["n_items"] == 24 and row["cs"] == 0.5 and row["verdict"] == "fail"
    assert len(query(merged, "SELECT * FROM contamination_items WHERE run_id = ?", run_id)) == 24
    [gate] = query(merged, "SELECT metric, verdict FROM gates WHERE run_id = ? AND gate = 'contamination'", run_id)
    assert gate == {"metric": "cs", "verdict": "fail"}


def judged_shard(path, items: range, wins: set[int]) -> None:
    """A shard run of the judged suite help: the candidate in slot A, winning the items in `wins`."""
    from pytest_modeleval.judge.judgment import Judgment

    store = Store(path)
    run = store.start_run({"model_hash": "a" * 64, "seed": 0})
    store.add_suite(run, {"suite": "help"})
    for i in items:
        item = f"help-{i:04d}-p0"
        won = i in wins
        judgment = Judgment("pairwise", "j" * 64, "t" * 64, f"question {i}", "answer", "reference", ["A"],
                            ["A" if won else "B"], ["[[A]]" if won else "[[B]]"], 1, "win" if won else "loss")
        payload = {"suite": "help", "item_id": item, "variant": 0, "test_id": f"t[{item}]",
                   "judgment": judgment.record()}
        store.add_outcome(run, {**payload, "outcome": "correct" if won else "wrong", "score": float(won),
                                "metrics": {"win_rate": float(won)}})
        store.add_judgment(run, payload)
        store.add_refusal(run, {**payload, "refusal": {"kind": "harmful", "category": "c", "refused": int(won),
                                                       "classifier": "string-match", "completion": "answer"}})
    from pytest_modeleval.judge.feature import RunJudgments

    judgments = RunJudgments(path, 0.7)
    for row in query(path, "SELECT * FROM judgments ORDER BY id"):
        judgments.add("help", {**row, **{k: json.loads(row[k]) for k in ("candidate_slots", "slot_verdicts", "outputs")}})
    judgments.record(store, run)  # the shard's own figures, as its session writes them
    store.finish_run(run, 0)
    store.close()


def test_merge_copies_judge_and_red_team_rows_and_recomputes_the_judge_figures(new_db):
    s1, s2, merged = new_db("s1"), new_db("s2"), new_db("merged")
    judged_shard(s1, range(0, 10), wins=set(range(0, 10)))  # alone: win rate 100%
    judged_shard(s2, range(10, 20), wins=set())  # alone: 0%
    run_id, _ = merge(merged, [s1, s2])
    assert len(query(merged, "SELECT * FROM judgments WHERE run_id = ?", run_id)) == 20
    assert len(query(merged, "SELECT * FROM refusals WHERE run_id = ?", run_id)) == 20
    [suite] = query(merged, "SELECT judged, win_rate, first_slot_rate FROM suites WHERE run_id = ?", run_id)
    assert suite == {"judged": 20, "win_rate": 0.5, "first_slot_rate": 0.5}
