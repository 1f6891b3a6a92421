"""`modeleval db copy SRC DST`: a SQLite history into PostgreSQL and back, every table and id kept."""

from __future__ import annotations

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.store import Store
from pytest_modeleval.results.tables import TABLES
from test_cli_runs import A, B, FAILED_GATE, add_run


def history(path) -> None:
    """Two checkpoints, a promotion, an override, gates, a judge validation, the variant library, the queue."""
    add_run(path, A, {"qa": [1, 1, 0]}, metrics={"qa": {"f1": [1.0, 0.5, 0.0]}})
    add_run(path, B, {"qa": [1, 0, None]}, exit_status=10, gate_status="failed", gates=[FAILED_GATE])
    assert modeleval(["promote", "sha256:aaaaaaaa", "--db", str(path), "--by", "jane", "--note", "r1"]) == 0
    store = Store(path)
    store.update_run(2, {"overrides": '[{"gate": "no-regression", "by": "joe"}]'})
    store.add_suite(1, {"suite": "qa", "n_rows": 3, "win_rate": 0.5})
    store.db["judge_validations"].insert({"judge_hash": A, "template_sha256": "t", "n": 10, "kappa": 0.8})
    store.add_variants([{"suite": "qa", "source_sha256": "s", "generator": "numbers", "version": 1, "seed": 0,
                         "idx": i, "text": f"v{i}", "accepted": 1} for i in range(3)])
    store.db["watch_queue"].insert({"model_hash": A, "path": "ckpt", "status": "done", "run_id": 1})
    store.close()


def dump(db) -> dict:
    out = {}
    for table, spec in TABLES.items():
        order = "id" if "id" in spec else ", ".join(list(spec)[:3])
        out[table] = query(db, f"SELECT * FROM {table} ORDER BY {order}")
    return out


def test_a_sqlite_history_copied_into_postgresql_and_back_is_the_same(tmp_path, monkeypatch, postgres_url, capsys):
    monkeypatch.chdir(tmp_path)
    source, back = tmp_path / "laptop.sqlite", tmp_path / "back.sqlite"
    history(source)
    assert modeleval(["db", "copy", str(source), postgres_url]) == 0
    said = capsys.readouterr().out
    assert "runs 2, suites 1, outcomes 6, gates 1, promotions 1, watch_queue 1" in said
    assert postgres_url.split(":")[2].split("@")[0] not in said  # the password is never printed
    original = dump(source)
    assert dump(postgres_url) == original and sum(map(len, original.values())) == 16
    assert modeleval(["db", "copy", postgres_url, str(back)]) == 0
    assert dump(back) == original
    # the copy is a working history: the baseline is the promoted run, new ids continue after the copied ones
    assert modeleval(["runs", "--db", postgres_url]) == 0
    assert "production" in capsys.readouterr().out
    assert add_run(postgres_url, B, {"qa": [1]}) == 3
    store = Store(postgres_url)
    assert store.db["promotions"].insert({"model_hash": B, "channel": "staging", "run_id": 3}).last_pk == 2
    store.close()


def test_a_copy_never_merges_into_a_history(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    history(tmp_path / "a.sqlite")
    add_run(tmp_path / "b.sqlite", A, {"qa": [1]})
    assert modeleval(["db", "copy", "a.sqlite", "b.sqlite"]) == 2
    assert "b.sqlite already holds 1 runs" in capsys.readouterr().err
    assert modeleval(["db", "copy", "missing.sqlite", "c.sqlite"]) == 2
    assert "results database missing.sqlite does not exist" in capsys.readouterr().err
