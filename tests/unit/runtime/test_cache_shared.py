"""The prediction cache as a team's shared store: one schema through Alembic on both backends,
old and newer schemas, claims and leases on PostgreSQL across processes and "machines", a lost
connection, and passwords that never show.

The multi-process tests start real pytest processes (each its own MODELEVAL_CACHE_DIR and
directory, as on another machine) against the session's PostgreSQL and count the engine calls
each one made (tests/support/evalkit.py's counting engine)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from cachekit import BACKENDS, cache_query, count, make_target
from evalkit import (BARRIER_ENV, CACHE_DB, ENGINE_LOG, HANG_AT_ENV, IMPORTS, USER_CACHE, COUNTING_CONFTEST,
                     FakeEngine, computed_prompts, engine_calls, gen_suite, one_thread_engine, outcomes, run,
                     query, setup_suite, sums, write_jsonl, RESULTS_DB, answers)
from pytest_modeleval.runtime.cache import store as cache_module
from pytest_modeleval import cli
from pytest_modeleval.runtime.cache.store import CacheError, PredictionCache
from pytest_modeleval.runtime.cache.migrate import SCRIPTS, CacheSchemaError
from pytest_modeleval.runtime.cache.schema import HEAD, REVISIONS, VERSION_TABLE, metadata
from pytest_modeleval.config import ConfigError, build_settings
from pytest_modeleval.engines.base import GenerateRequest
from pytest_modeleval.runtime.predictor import Predictor
from testpaths import REPO

HASH_A = "a" * 64


@pytest.fixture(params=BACKENDS)
def cache_target(request, tmp_path):
    return make_target(request, tmp_path)


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def predictor(engine, target, **options) -> Predictor:
    cache = PredictionCache(target, "readwrite", **options)
    return Predictor(lambda: engine, cache, engine.info.model_hash, 4, shared=cache.shared)


# --- one schema, versioned -------------------------------------------------------------------------


def test_migrations_build_exactly_the_schema_the_code_declares(cache_target):
    """Alembic's revisions, run on an empty DB, give the tables of runtime/cache/schema.py: no difference left."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.config import Config

    PredictionCache(cache_target).close()
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    assert [s.revision for s in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))] == list(REVISIONS)
    url = f"sqlite:///{cache_target}" if "://" not in str(cache_target) else \
        str(cache_target).replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == HEAD
    engine.dispose()


def test_a_newer_schema_is_refused_with_a_message(cache_target, capsys):
    PredictionCache(cache_target).close()
    cache_query_exec(cache_target, f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    for mode in ("readwrite", "read"):
        with pytest.raises(CacheSchemaError, match=r"revision '9999', newer than this pytest-modeleval knows"):
            PredictionCache(cache_target, mode)
    assert cli.main(["cache", "stats", "--db", str(cache_target)]) == 1
    out = capsys.readouterr().out
    assert "newer than this pytest-modeleval" in out
    if "://" in str(cache_target):
        assert _password(cache_target) not in out and ":***@" in out


def test_a_cache_file_from_before_alembic_is_adopted(tmp_path):
    """The old layout (predictions, claims without a lease): stamped, upgraded, its predictions served."""
    path = tmp_path / "cache.sqlite"
    fake = FakeEngine(HASH_A)
    key = None
    p = predictor(fake, path)
    p.generate([GenerateRequest("Hi", max_tokens=4)])
    [row] = cache_query(path, "SELECT * FROM predictions")
    p.cache.close()
    path.unlink()
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE predictions (key TEXT PRIMARY KEY, model_hash TEXT NOT NULL, kind TEXT NOT NULL,
            value TEXT NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
        CREATE INDEX predictions_model ON predictions (model_hash);
        CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed_at REAL NOT NULL);""")
    con.execute("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)", tuple(row.values()))
    con.commit()
    con.close()
    again = FakeEngine(HASH_A)
    assert predictor(again, path).generate([GenerateRequest("Hi", max_tokens=4)])[0].cached
    assert again.received == 0
    assert cache_query(path, f"SELECT version_num FROM {VERSION_TABLE}") == [{"version_num": HEAD}]
    tables = {r["name"] for r in cache_query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "claims" not in tables and "prediction_claims" in tables


def test_a_foreign_predictions_table_is_not_taken_for_a_cache(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE predictions (id INTEGER, label TEXT)")
    con.close()
    with pytest.raises(CacheSchemaError, match="not a pytest-modeleval cache"):
        PredictionCache(path)


# --- claims and leases on PostgreSQL ------------------------------------------------------------


def test_concurrent_claimants_split_the_keys_without_overlap(postgres_url):
    """Four claimants (own connections, own owners) claim the same 400 keys in different orders, in
    chunks: every key is owned by exactly one of them."""
    keys = [f"k{i:04d}" for i in range(400)]
    owned: dict[int, list[str]] = {}
    caches = [PredictionCache(postgres_url) for _ in range(4)]

    def claimant(i):
        order = keys[:]
        random.Random(i).shuffle(order)
        owned[i] = [k for start in range(0, len(order), 25) for k in caches[i].claim(order[start:start + 25])]

    threads = [threading.Thread(target=claimant, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [k for mine in owned.values() for k in mine]
    assert sorted(flat) == keys  # each key once, none lost
    assert sum(1 for mine in owned.values() if mine) >= 2
    for c in caches:
        c.close()


def test_a_lease_is_renewed_while_its_claimant_lives_and_taken_over_after_it_stops(postgres_url):
    alive = PredictionCache(postgres_url, lease_s=1.0)
    other = PredictionCache(postgres_url, lease_s=1.0)
    assert alive.claim(["k1", "k2"]) == ["k1", "k2"]
    time.sleep(2.0)  # two leases long: the heartbeat kept them
    assert other.claim(["k1", "k2", "k3"]) == ["k3"]
    alive._claims.close()  # the claimant stops renewing (as a killed process would), its claims stay
    time.sleep(1.5)
    assert other.claim(["k1", "k2"]) == ["k1", "k2"]
    assert {r["owner"] for r in cache_query(postgres_url, "SELECT owner FROM prediction_claims")} == {other.owner}
    alive.close()
    other.close()


# --- a lost connection ----------------------------------------------------------------------------


def _terminate(url, pid):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_dropped_in_the_middle_of_a_write_is_retried(postgres_url):
    """The server kills the cache's connection as it sends a batch of predictions: the write is redone on
    a new connection, every answer is stored and none is computed twice."""
    fake = FakeEngine(HASH_A)
    p = predictor(fake, postgres_url)
    dropped = []

    @sa.event.listens_for(p.cache._engine, "before_cursor_execute")
    def drop(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO predictions") and not dropped:
            dropped.append(conn.connection.driver_connection.info.backend_pid)
            _terminate(postgres_url, dropped[0])

    prompts = [f"question {i}" for i in range(10)]
    answers_ = [x.value for x in p.generate([GenerateRequest(t, max_tokens=4) for t in prompts])]
    assert dropped and answers_ == [f"aaaa:{t}:greedy" for t in prompts]
    assert fake.received == 10
    assert count(postgres_url) == 10
    p.cache.close()


def test_a_database_that_stays_unreachable_is_reported_naming_it_without_the_password(
        postgres_url, postgres_server, monkeypatch):
    monkeypatch.setattr(cache_module, "RETRY_DELAYS", (0.05, 0.1))
    fake = FakeEngine(HASH_A)
    p = predictor(fake, postgres_url)
    p.generate([GenerateRequest("first", max_tokens=4)])
    dbname = postgres_url.rsplit("/", 1)[1]
    import psycopg

    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
    try:
        with pytest.raises(CacheError) as error:
            p.generate([GenerateRequest("second", max_tokens=4)])
        message = str(error.value)
        assert "prediction cache postgresql://modeleval:***@127.0.0.1:" in message and dbname in message
        assert postgres_server.password not in message
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    p.cache.close()
    assert [r["value"] for r in cache_query(postgres_url, "SELECT value FROM predictions")] == ['"aaaa:first:greedy"']


# --- options and passwords -------------------------------------------------------------------------


def test_a_url_is_never_taken_for_a_path_and_the_environment_can_hold_it(tmp_path, monkeypatch):
    url = "postgresql://ci:s3cret@db.internal:5432/modeleval"
    settings = build_settings({"cache_db": url}, tmp_path / "pyproject.toml", tmp_path, tmp_path)
    assert settings.cache_db == url
    monkeypatch.setenv("MODELEVAL_CACHE_DB", url)
    assert build_settings({}, tmp_path / "pyproject.toml", tmp_path, tmp_path).cache_db == url
    assert build_settings({"cache_db": "here.sqlite"}, tmp_path / "pyproject.toml", tmp_path,
                          tmp_path).cache_db == tmp_path / "here.sqlite"  # the command line wins
    (tmp_path / "pyproject.toml").write_text('[tool.modeleval]\ncache_db = "team.sqlite"\n')
    assert build_settings({}, tmp_path / "pyproject.toml", tmp_path, tmp_path).cache_db == url  # env over file
    monkeypatch.delenv("MODELEVAL_CACHE_DB")
    assert build_settings({}, tmp_path / "pyproject.toml", tmp_path, tmp_path).cache_db == tmp_path / "team.sqlite"
    with pytest.raises(ConfigError) as error:
        build_settings({"cache_db": "mysql://ci:s3cret@db/x"}, tmp_path / "pyproject.toml", tmp_path, tmp_path)
    assert "--eval-cache-db" in str(error.value) and "s3cret" not in str(error.value)
    assert "ci:***@db" in str(error.value)


def test_a_password_is_never_printed(pytester, postgres_url, postgres_server):
    """A wrong password: a usage error naming the DB with *** for the password; a right one: no trace of it."""
    pytester.makepyfile(test_plain="def test_plain(model): pass")
    wrong = postgres_url.replace(postgres_server.password, "not-the-password")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", "--eval-cache-db", wrong)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--eval-cache-db postgresql://modeleval:***@127.0.0.1:" in err and "password authentication failed" in err
    assert "not-the-password" not in err + result.stdout.str()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", "--eval-cache-db",
                                          postgres_url, "-v")
    assert result.ret == 0, result.stdout.str()
    assert postgres_server.password not in result.stdout.str() + result.stderr.str()
    [row] = query(pytester.path / RESULTS_DB, "SELECT command FROM runs WHERE exit_status = 0")
    assert postgres_server.password not in row["command"] and "--eval-cache-db postgresql://modeleval:***@" in row["command"]


# --- many processes, many "machines" ---------------------------------------------------------------


def machine(root: Path, name: str, items: int) -> tuple[Path, dict]:
    """A checkout of the same suite in its own directory, with its own MODELEVAL_CACHE_DIR (the converted
    embedded weights linked in, as a machine that converted them once would have)."""
    home = root / name
    (home / "user-cache").mkdir(parents=True)
    converted = USER_CACHE / "converted"
    if converted.exists():
        (home / "user-cache" / "converted").symlink_to(converted)
    write_jsonl(home / "gen.jsonl", sums(items))
    (home / "test_suite.py").write_text(IMPORTS + gen_suite())
    (home / "conftest.py").write_text(COUNTING_CONFTEST)
    env = {**os.environ, "MODELEVAL_CACHE_DIR": str(home / "user-cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return home, env


def pytest_process(home: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--model=embedded",
                             "--eval-batch-size", "2", *args], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def logged(home: Path) -> list[dict]:
    log = home / ENGINE_LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_two_machines_sharing_one_checkpoint_compute_each_prediction_once(tmp_path, postgres_url):
    """Two pytest processes, separate directories and user caches, start computing the same 8-item plan at
    the same moment against one PostgreSQL cache: together they make 8 computations, each once."""
    barrier = tmp_path / "barrier"
    procs = []
    homes = []
    for name in ("machine-a", "machine-b"):
        home, env = machine(tmp_path, name, 8)
        env[BARRIER_ENV] = f"{barrier}:2"
        homes.append(home)
        procs.append(pytest_process(home, env, "--eval-cache-db", postgres_url))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    computed = [computed_prompts(logged(home)) for home in homes]
    every = computed[0] + computed[1]
    assert len(every) == len(set(every)) == 8, computed  # each prediction once, by one of the two
    assert all(computed), computed  # both did part of the work
    assert count(postgres_url) == 8
    assert answers(outcomes(homes[0] / RESULTS_DB)) == answers(outcomes(homes[1] / RESULTS_DB))


def test_a_process_killed_mid_batch_loses_nothing_committed_and_nothing_is_computed_twice(
        pytester, engine, postgres_url):
    """kill -9 while the 3rd batch computes: the 2 committed batches stay; the rerun (same machine, so pid
    liveness could cheat: it must wait out the dead claimant's 2 s lease) computes only the other 4."""
    setup_suite(pytester, gen_suite(), sums(8))
    env = {**os.environ, HANG_AT_ENV: "3", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTEST_ADDOPTS", None)
    victim = pytest_process(pytester.path, env, "--eval-cache-db", postgres_url, "--eval-cache-lease", "2")
    deadline = time.monotonic() + 300
    while len(logged(pytester.path)) < 3:
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()[0]
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    calls = engine_calls(pytester)
    committed = computed_prompts(calls)
    assert len(committed) == 4 and calls[2]["failed"]
    assert count(postgres_url) == 4
    claimed = cache_query(postgres_url, "SELECT owner FROM prediction_claims")
    assert len(claimed) == 2  # the batch in flight is still claimed by the dead process

    result = run(pytester, "--eval-batch-size", "2", "--eval-cache-db", postgres_url)
    assert result.ret == 0, result.stdout.str()
    resumed = computed_prompts(engine_calls(pytester))
    assert len(resumed) == 4 and not set(resumed) & set(committed)
    assert set(calls[2]["prompts"]) <= set(resumed)  # the uncommitted batch was redone, once
    assert count(postgres_url) == 8
    assert cache_query(postgres_url, "SELECT COUNT(*) AS n FROM prediction_claims") == [{"n": 0}]


def cache_query_exec(target, sql: str) -> None:
    if "://" in str(target):
        engine = sa.create_engine(str(target).replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
        engine.dispose()
    else:
        con = sqlite3.connect(target)
        with con:
            con.execute(sql)
        con.close()


def _password(url) -> str:
    from urllib.parse import urlsplit

    return urlsplit(str(url)).password
