"""`modeleval human export / import` on a results DB built here through the Store: the sample is
stratified, blinded and reproducible, and imported labels un-blind into agreement with the judge."""

from __future__ import annotations

import csv
import json

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.judge import human
from pytest_modeleval.results.store import Store

MODEL_REF, JUDGE_HASH = "ckpt-secret-model", "feedbeefjudge" * 4
# suite -> verdicts: 30 items, 8 strata
VERDICTS = {"suite_alpha": ["win"] * 8 + ["loss"] * 6 + ["tie"] * 2 + [None] * 2,
            "suite_beta": ["win"] * 4 + ["loss"] * 4 + ["tie"] * 2 + [None] * 2}
COLUMNS = ["sample_id", "question", "response_1", "response_2", "label", "rater", "notes"]


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.sqlite"
    store = Store(path)
    rid = store.start_run({"model_ref": MODEL_REF, "model_hash": "a" * 64, "judge_hash": JUDGE_HASH})
    rows = []
    for suite, verdicts in VERDICTS.items():
        for i, verdict in enumerate(verdicts):
            rows.append({"run_id": rid, "suite": suite, "test_id": f"t::{suite}[{i}]", "item_id": f"{suite}-{i}",
                         "variant": 0, "kind": "pairwise", "judge_hash": JUDGE_HASH, "template_sha256": "t" * 64,
                         "question": f"Question {suite[-1]}{i}?", "candidate": f"answer X-{suite[-1]}{i}",
                         "reference": f"answer Y-{suite[-1]}{i}", "candidate_slots": "[]", "slot_verdicts": "[]",
                         "outputs": "[]", "attempts": 1, "outcome": verdict,
                         "win_value": {"win": 1.0, "tie": 0.5, "loss": 0.0}.get(verdict), "rating": None,
                         "scale": None, "error": None if verdict else "no readable verdict"})
    rows.append({**rows[0], "test_id": "t::graded[0]", "kind": "rating", "rating": 4, "scale": 5, "outcome": None})
    store.db["judgments"].insert_all(rows)
    store.finish_run(rid, 0)
    store.close()
    return path


def out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def export(db, tmp_path, capsys, *, n=12, seed=0, out_dir="out") -> list[dict]:
    args = ["human", "export", "--run", "latest", "--n", str(n), "--out", str(tmp_path / out_dir),
            "--seed", str(seed), "--db", str(db)]
    assert modeleval(args) == 0
    assert "12 blinded pairs of 30" in out(capsys) or n != 12
    with (tmp_path / out_dir / "human-run1.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def unblind(db) -> dict[str, dict]:
    """sample_id -> the sample joined with its judgment."""
    rows = query(db, "SELECT s.sample_id, s.candidate_position, j.suite, j.outcome, j.error, j.candidate, "
                     "j.test_id FROM human_samples AS s JOIN judgments AS j "
                     "ON j.run_id = s.run_id AND j.test_id = s.test_id")
    return {row["sample_id"]: row for row in rows}


def stratum(row) -> tuple[str, str]:
    return row["suite"], row["outcome"] or "error"


def write_labels(path, rows, label_for) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "label": label_for(row)})


def test_export_is_blinded_stratified_and_reproducible(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys)
    csv_path, jsonl_path = tmp_path / "out" / "human-run1.csv", tmp_path / "out" / "human-run1.jsonl"
    assert len(rows) == 12
    assert list(rows[0]) == COLUMNS
    jsonl = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines()]
    assert jsonl == rows
    assert all(row["label"] == row["rater"] == row["notes"] == "" for row in rows)
    for secret in ("suite_", MODEL_REF, "ckpt", JUDGE_HASH[:12], "win", "loss", "error", "candidate", "t::"):
        assert secret not in csv_path.read_text(encoding="utf-8") + jsonl_path.read_text(encoding="utf-8")
    assert all(len(row["sample_id"]) == 12 and int(row["sample_id"], 16) >= 0 for row in rows)

    truth = unblind(db)
    assert set(truth) == {row["sample_id"] for row in rows}
    assert "t::graded[0]" not in {t["test_id"] for t in truth.values()}  # ratings are not pairs
    # Proportional by (suite, judge verdict), each of the 8 strata present, within one of its quota.
    sizes = {(suite, v or "error"): sum((x or "error") == (v or "error") for x in vs)
             for suite, vs in VERDICTS.items() for v in vs}
    got = {key: 0 for key in sizes}
    for row in rows:
        got[stratum(truth[row["sample_id"]])] += 1
    for key, size in sizes.items():
        assert 1 <= got[key] and abs(got[key] - 12 * size / 30) < 1, (key, got)
    assert sum(v for (s, _), v in got.items() if s == "suite_alpha") == 7

    # The candidate sits first and second, and the file shows it where human_samples says.
    positions = {truth[row["sample_id"]]["candidate_position"] for row in rows}
    assert positions == {1, 2}
    for row in rows:
        t = truth[row["sample_id"]]
        assert row[f"response_{t['candidate_position']}"] == t["candidate"]
        assert row[f"response_{3 - t['candidate_position']}"] != t["candidate"]
    # Shuffled: not in suite or test order.
    order = [truth[row["sample_id"]]["test_id"] for row in rows]
    assert order != sorted(order)

    first_csv, first_jsonl = csv_path.read_bytes(), jsonl_path.read_bytes()
    export(db, tmp_path, capsys, out_dir="again")
    assert (tmp_path / "again" / "human-run1.csv").read_bytes() == first_csv
    assert (tmp_path / "again" / "human-run1.jsonl").read_bytes() == first_jsonl
    other = export(db, tmp_path, capsys, seed=1, out_dir="seed1")
    truth = unblind(db)
    picked = {truth[row["sample_id"]]["test_id"] for row in rows}
    assert {truth[row["sample_id"]]["test_id"] for row in other} != picked
    assert not {row["sample_id"] for row in other} & {row["sample_id"] for row in rows}


def test_export_all_when_fewer_and_errors(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys, n=100)
    assert len(rows) == 30
    assert modeleval(["human", "export", "--run", "7", "--db", str(db)]) == 2
    assert "there is no run 7" in out(capsys)
    assert modeleval(["human", "export", "--run", "1", "--n", "0", "--db", str(db)]) == 2
    assert "--n 0" in out(capsys)
    store = Store(db)
    empty = store.start_run({"model_ref": "other"})
    store.close()
    assert modeleval(["human", "export", "--run", str(empty), "--db", str(db)]) == 2
    assert f"run {empty} has no pairwise judgments" in out(capsys)


def test_allocation_is_largest_remainder_with_one_per_stratum():
    assert human.allocate({"a": 90, "b": 5, "c": 5}, 10) == {"a": 8, "b": 1, "c": 1}
    assert human.allocate({"a": 90, "b": 5, "c": 5}, 2) == {"a": 2, "b": 0, "c": 0}
    assert human.allocate({"a": 3, "b": 3}, 9) == {"a": 3, "b": 3}
    assert sum(human.allocate({"a": 7, "b": 11, "c": 13}, 17).values()) == 17


def agreeing(truth):
    """The position label that says what the judge said (judge errors: tie)."""
    def label(row):
        t = truth[row["sample_id"]]
        if t["outcome"] in (None, "tie"):
            return "tie"
        won = t["outcome"] == "win"
        return str(t["candidate_position"] if won else 3 - t["candidate_position"])
    return label


def test_import_agreeing_labels_gives_kappa_one(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys)
    truth = unblind(db)
    labels = tmp_path / "filled.csv"
    write_labels(labels, rows, agreeing(truth))
    assert modeleval(["human", "import", str(labels), "--rater", "ann", "--db", str(db)]) == 0
    text = out(capsys)
    assert "imported 12 labels" in text
    assert "agreement 100.0%, Cohen's kappa 1.000" in text
    assert "vs judge on 10 items" in text and "excluded: 2 judge errors" in text
    store = Store(db)
    report = human.import_labels(store, labels, rater="ann")  # the same file again: replaces, reports the same
    assert store.db["human_labels"].count == 12
    store.close()
    (run,) = report.runs
    assert run.kappa.value == pytest.approx(1.0) and run.agreement == 1.0
    assert run.n == 12 and run.compared == 10 and run.judge_errors == 2
    wins = run.counts["candidate"] + 0.5 * run.counts["tie"]
    assert run.win_rate == pytest.approx(wins / 12) and run.win_lo < run.win_rate < run.win_hi


def test_import_reversed_labels_gives_negative_kappa(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys)
    truth = unblind(db)
    agree = agreeing(truth)
    flip = {"1": "2", "2": "1", "tie": "1"}
    labels = tmp_path / "reversed.jsonl"
    labels.write_text("".join(json.dumps({**row, "label": flip[agree(row)], "rater": "bo"}) + "\n" for row in rows))
    assert modeleval(["human", "import", str(labels), "--db", str(db)]) == 0
    text = out(capsys)
    kappa = float(text.split("Cohen's kappa ")[1].split()[0])
    assert kappa < 0, text
    assert "agreement 0.0%" in text


def test_label_spellings_empty_rows_and_reimport(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys)
    spellings = ["A", "b", "TIE", "3", "c", "1", "2", "Tie", "a", "", " ", ""]
    labels = tmp_path / "partial.csv"
    write_labels(labels, rows, lambda row: spellings[rows.index(row)])
    assert modeleval(["human", "import", str(labels), "--rater", "cy", "--db", str(db)]) == 0
    text = out(capsys)
    assert "imported 9 labels" in text and "3 rows without a label skipped" in text
    assert modeleval(["human", "import", str(labels), "--rater", "cy", "--db", str(db)]) == 0
    text = out(capsys)
    assert "imported 9 labels" in text and "3 rows without a label skipped" in text
    stored = query(db, "SELECT sample_id, label, rater FROM human_labels ORDER BY id")
    assert len(stored) == 9 and {row["rater"] for row in stored} == {"cy"}
    truth = unblind(db)
    by_id = {row["sample_id"]: row["label"] for row in stored}
    for row, spelled in zip(rows, spellings):
        if spelled.strip():
            position = truth[row["sample_id"]]["candidate_position"]
            expected = human.side(human.LABELS[spelled.lower()], position)
            assert by_id[row["sample_id"]] == expected


def test_bad_labels_name_file_and_line(db, tmp_path, capsys):
    rows = export(db, tmp_path, capsys)
    unknown = tmp_path / "unknown.csv"
    write_labels(unknown, [rows[0], {**rows[1], "sample_id": "0123456789ab"}], lambda row: "1")
    assert modeleval(["human", "import", str(unknown), "--db", str(db)]) == 2
    text = out(capsys)
    assert f"{unknown}:3: unknown sample_id '0123456789ab' (not exported from this database)" in text

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows[0], "label": "1"}) + "\n" + json.dumps({**rows[1], "label": "maybe"}) + "\n")
    assert modeleval(["human", "import", str(bad), "--db", str(db)]) == 2
    assert f"{bad}:2: label 'maybe' is not 1, 2 or tie" in out(capsys)

    no_id = tmp_path / "no_id.csv"
    no_id.write_text("id,label\nx,1\n")
    assert modeleval(["human", "import", str(no_id), "--db", str(db)]) == 2
    assert f"{no_id}:1: no sample_id column" in out(capsys)

    no_id_line = tmp_path / "no_id.jsonl"
    no_id_line.write_text(json.dumps({**rows[0], "label": "1"}) + "\n\n" + json.dumps({"label": "2"}) + "\n")
    assert modeleval(["human", "import", str(no_id_line), "--db", str(db)]) == 2
    assert f"{no_id_line}:3: no sample_id column" in out(capsys)

    twice = tmp_path / "twice.csv"
    write_labels(twice, [rows[0], rows[0]], lambda row: "2")
    assert modeleval(["human", "import", str(twice), "--db", str(db)]) == 2
    assert f"{twice}:3: sample_id {rows[0]['sample_id']} is labelled again (first at line 2)" in out(capsys)

    store = Store(db)
    assert store.db["human_labels"].count == 0  # nothing recorded from a file with an error
    store.close()
