"""The results DB on both backends: the store's writes and reads, the schema's migrations, refusals
of a DB newer than the code, a dropped connection, and a URL that is never taken for a path."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from evalkit import query

from pytest_modeleval import dburl
from pytest_modeleval.config import ConfigError, build_settings
from pytest_modeleval.results.db import Database, DatabaseError, NotFoundError, exists
from pytest_modeleval.results.migrate import HEAD, SCRIPTS, SchemaError
from pytest_modeleval.results.schema import SCHEMA_TABLE, VERSION_TABLE, tables
from pytest_modeleval.results.store import Store
from pytest_modeleval.results.tables import SCHEMA_VERSION, TABLES


def test_store_round_trip(results_db):
    store = Store(results_db)
    try:
        rid = store.start_run({"model_hash": "a" * 64, "git_dirty": True, "settings": {"seed": 0}})
        store.add_suite(rid, {"suite": "qa", "n_rows": 3})
        store.update_suite(rid, "qa", {"sample": 2})
        for i, outcome in enumerate(["correct", "wrong", "correct"]):
            store.add_outcome(rid, {"suite": "qa", "item_id": str(i), "test_id": f"t[{i}]", "outcome": outcome,
                                    "score": float(outcome == "correct"), "metrics": {"f1": 0.5}})
        store.add_outcome(rid, {"suite": "qa", "item_id": "1", "test_id": "t[1]", "outcome": "correct", "score": 1.0})
        store.add_variants([{"suite": "qa", "source_sha256": "s", "generator": "g", "version": 1, "seed": 0,
                             "idx": 0, "text": "x"}] * 2)  # the same key twice: kept once
        store.finish_run(rid, 0)
        assert store.run(rid)["git_dirty"] == 1 and store.run(rid)["exit_status"] == 0
        assert [(o["test_id"], o["outcome"]) for o in store.outcomes(rid)] == [
            ("t[0]", "correct"), ("t[1]", "correct"), ("t[2]", "correct")]  # a rerun keeps its last result
        assert store.db["suites"].get((rid, "qa"))["sample"] == 2 and store.db["suites"].get((rid, "qa"))["n_rows"] == 3
        assert store.db["variants"].count == 1
        score = tables()["outcomes"].c.score
        stats = store.db.one(sa.select(sa.func.sum(score).label("s"), sa.func.avg(score).label("m"),
                                       sa.func.count().label("n")))
        assert stats == {"s": 3.0, "m": 1.0, "n": 3} and isinstance(stats["m"], float)
        with pytest.raises(NotFoundError, match="no runs row 99"):
            store.db["runs"].get(99)
    finally:
        store.close()
    assert query(results_db, "SELECT COUNT(*) AS n FROM outcomes WHERE metrics LIKE '%f1%'") == [{"n": 2}]


def test_a_transaction_is_all_or_nothing(results_db):
    store = Store(results_db)
    try:
        rid = store.start_run({"model_hash": "a" * 64})
        with pytest.raises(ZeroDivisionError):
            with store.db.transaction():
                store.db["gates"].insert({"run_id": rid, "suite": "qa", "gate": "g", "verdict": "pass"})
                1 / 0
        assert store.db["gates"].count == 0
    finally:
        store.close()


def test_a_new_db_is_at_the_newest_schema_and_revision(results_db):
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(SCRIPTS)).get_current_head() == HEAD
    Store(results_db).close()
    assert query(results_db, f"SELECT version FROM {SCHEMA_TABLE}") == [{"version": SCHEMA_VERSION}]
    assert query(results_db, f"SELECT version_num FROM {VERSION_TABLE}") == [{"version_num": HEAD}]
    db = Database(results_db)
    try:
        columns = db.columns()
    finally:
        db.close()
    assert all(list(columns[table]) == list(spec) for table, spec in TABLES.items())


def test_a_schema_5_sqlite_db_from_before_the_migrations_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)  # what Store wrote before (sqlite-utils' DDL, as it was), PRAGMA user_version 5
    with old:
        old.executescript("""
            CREATE TABLE "runs" ("id" INTEGER PRIMARY KEY, "model_hash" TEXT, "exit_status" INTEGER);
            CREATE TABLE "outcomes" ("id" INTEGER PRIMARY KEY, "run_id" INTEGER, "suite" TEXT, "test_id" TEXT,
                                     "outcome" TEXT);
            CREATE UNIQUE INDEX "idx_outcomes_run_id_test_id" ON "outcomes" ("run_id", "test_id");
            PRAGMA user_version = 5;
        """)
        old.execute("INSERT INTO runs (id, model_hash, exit_status) VALUES (1, ?, 0)", ["a" * 64])
        old.execute("INSERT INTO outcomes (run_id, suite, test_id, outcome) VALUES (1, 'qa', 't[0]', 'correct')")
    old.close()
    store = Store(path)
    try:
        assert store.run(1)["model_hash"] == "a" * 64 and store.run(1)["gate_status"] is None  # a column added
        store.add_outcome(1, {"suite": "qa", "test_id": "t[0]", "item_id": "0", "outcome": "wrong"})
        assert [o["outcome"] for o in store.outcomes(1)] == ["wrong"]
        assert set(TABLES) <= set(store.db.table_names())
    finally:
        store.close()
    assert query(path, f"SELECT version_num FROM {VERSION_TABLE}") == [{"version_num": HEAD}]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_db_written_by_a_newer_version_is_refused_and_left_alone(results_db):
    Store(results_db).close()
    db = Database(results_db)
    db.execute(sa.update(tables()[SCHEMA_TABLE]).values(version=SCHEMA_VERSION + 1))
    db.close()
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 1}, newer than") as info:
        Store(results_db)
    assert dburl.redact(str(results_db)) in str(info.value)
    assert query(results_db, f"SELECT version FROM {SCHEMA_TABLE}") == [{"version": SCHEMA_VERSION + 1}]
    db = Database(results_db)
    db.execute(sa.update(tables()[SCHEMA_TABLE]).values(version=SCHEMA_VERSION))
    db.execute(sa.update(sa.table(VERSION_TABLE, sa.column("version_num"))).values(version_num="ffff_future"))
    db.close()
    with pytest.raises(SchemaError, match="revision 'ffff_future', which this pytest-modeleval does not know"):
        Store(results_db)


def test_messages_name_the_server_without_its_password(postgres_url):
    password = postgres_url.split(":")[2].split("@")[0]
    wrong = postgres_url.replace(password, "not-the-password")
    with pytest.raises(DatabaseError) as info:
        Store(wrong)
    assert "not-the-password" not in str(info.value) and password not in str(info.value)
    assert dburl.redact(wrong) in str(info.value)
    assert not exists(postgres_url)  # an empty database holds no runs yet
    Store(postgres_url).close()
    assert exists(postgres_url)


def _kill_connections(url: str, pid: int | None = None) -> int:
    """Terminate the DB's other backends (only `pid`'s, when given); how many were terminated."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        return len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                 "AND (%s::int IS NULL OR pid = %s::int)", [pid, pid]).fetchall())


def test_psycopg_keeps_one_error_class_across_in_process_runs(pytester):
    """An in-process run that first imported psycopg would drop it from sys.modules; re-imported, its C
    extension still raises the old classes and every lost-connection retry below stops matching
    (tests/conftest.py imports it first). Seen only in a full run, as three failed retries."""
    pytester.makepyfile("def test_imports():\n    import psycopg\n")
    pytester.runpytest_inprocess().assert_outcomes(passed=1)
    import psycopg

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect("host=127.0.0.1 port=1 connect_timeout=1")


def test_a_connection_dropped_before_a_write_is_retried(postgres_url):
    store = Store(postgres_url)
    try:
        rid = store.start_run({"model_hash": "a" * 64})
        store.add_outcome(rid, {"suite": "qa", "item_id": "0", "test_id": "t[0]", "outcome": "correct"})
        # the store's own connection: by its backend, since a connection closed just before (the schema
        # check's) may still be listed while its backend exits
        assert _kill_connections(postgres_url, store.db._dbapi.info.backend_pid) == 1
        store.flush()  # the queued outcome is written on a new connection
        store.update_run(rid, {"gate_status": "passed"})
    finally:
        store.close()
    assert query(postgres_url, "SELECT outcome FROM outcomes") == [{"outcome": "correct"}]
    assert query(postgres_url, "SELECT gate_status FROM runs") == [{"gate_status": "passed"}]


def test_a_connection_dropped_inside_a_write_is_an_error_naming_the_db(postgres_url):
    password = postgres_url.split(":")[2].split("@")[0]
    store = Store(postgres_url)
    try:
        rid = store.start_run({"model_hash": "a" * 64})
        with pytest.raises(DatabaseError, match="was lost in the middle of a write") as info:
            with store.db.transaction():
                store.db["gates"].insert({"run_id": rid, "suite": "qa", "gate": "g1", "verdict": "pass"})
                _kill_connections(postgres_url)
                store.db["gates"].insert({"run_id": rid, "suite": "qa", "gate": "g2", "verdict": "pass"})
        assert dburl.redact(postgres_url) in str(info.value) and password not in str(info.value)
        assert store.db["gates"].count == 0  # nothing half-written; the store works again
        store.db["gates"].insert({"run_id": rid, "suite": "qa", "gate": "g1", "verdict": "pass"})
    finally:
        store.close()
    assert query(postgres_url, "SELECT gate FROM gates") == [{"gate": "g1"}]


def test_a_flush_that_fails_twice_keeps_its_outcomes_queued(postgres_server, postgres_url, monkeypatch):
    store = Store(postgres_url)
    rid = store.start_run({"model_hash": "a" * 64})
    store.add_outcome(rid, {"suite": "qa", "item_id": "0", "test_id": "t[0]", "outcome": "correct"})
    monkeypatch.setattr(store.db, "reconnect", lambda: _kill_connections(postgres_url))
    _kill_connections(postgres_url)
    with pytest.raises(DatabaseError):
        store.flush()
    assert len(store._pending) == 1  # nothing computed is lost: the next flush writes it
    monkeypatch.undo()
    store.db.reconnect()
    store.flush()
    store.close()
    assert query(postgres_url, "SELECT COUNT(*) AS n FROM outcomes") == [{"n": 1}]


@pytest.mark.parametrize("where", ["cli", "env", "pyproject"])
def test_a_db_url_is_never_taken_for_a_path(tmp_path, monkeypatch, where):
    url = "postgresql://ci:s3cret@127.0.0.1:5432/modeleval"
    cli, pyproject = {}, tmp_path / "pyproject.toml"
    if where == "cli":
        cli = {"db": url}
    elif where == "env":
        monkeypatch.setenv("MODELEVAL_DB", url)
    else:
        pyproject.write_text(f'[tool.modeleval]\ndb = "{url}"\n')
    settings = build_settings(cli, pyproject, tmp_path, tmp_path)
    assert settings.db == url
    assert not list(tmp_path.glob("postgresql*"))


def test_an_unsupported_db_url_is_a_config_error_without_the_password(tmp_path):
    with pytest.raises(ConfigError, match=r"--eval-db mysql://u:\*\*\*@h/db: unsupported database 'mysql'") as info:
        build_settings({"db": "mysql://u:pw1234@h/db"}, tmp_path / "pyproject.toml", tmp_path, tmp_path)
    assert "pw1234" not in str(info.value)


def test_redact_text_hides_every_password_in_a_command_line():
    text = "pytest --eval-db=postgresql://ci:s3cr%40t@db:5432/x --eval-cache-db postgresql://u:p@h/c -q"
    assert dburl.redact_text(text) == ("pytest --eval-db=postgresql://ci:***@db:5432/x "
                                       "--eval-cache-db postgresql://u:***@h/c -q")
