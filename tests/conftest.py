"""Shared test setup: pytester for the plugin tests, and never go online."""

import gc
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pytest_modeleval import paths

# pytester's in-process runs drop the modules first imported during a run, and SQLAlchemy's event
# registry, Alembic and psycopg's C extension do not survive a second import in one process: the
# results DB's and the prediction cache's stacks are imported once here, before any run. psycopg
# above all: re-imported, its C extension still raises the first import's classes, so
# `except psycopg.OperationalError` no longer matches a lost connection and retries stop working.
import alembic.command  # noqa: E402,F401
import alembic.config  # noqa: E402,F401
import psycopg  # noqa: E402,F401
import psycopg.types.numeric  # noqa: E402,F401
import pytest_modeleval.runtime.cache.store  # noqa: E402,F401
import pytest_modeleval.runtime.cache.migrate  # noqa: E402,F401
import pytest_modeleval.results.migrate  # noqa: E402,F401
import pytest_modeleval.results.store  # noqa: E402,F401
import sqlalchemy.dialects.postgresql.psycopg  # noqa: E402,F401
import sqlalchemy.dialects.sqlite.pysqlite  # noqa: E402,F401
from testpaths import SHARED_DATA

pytest_plugins = ["pytester"]

# pytester points HOME at a temporary directory, which would move the plugin's cache (hash cache,
# converted weights) there and convert the embedded model again; every test keeps the user's cache.
USER_CACHE = paths.cache_dir()


@pytest.fixture(autouse=True)
def user_cache(monkeypatch):
    """Pin the plugin's cache to the user's, the engine to transformers, and clear the fault-injection switch of
    tests/support/evalkit.py and GitHub's step summary and annotations (run under GitHub Actions, every inner run
    would append to the job's page)."""
    monkeypatch.setenv("MODELEVAL_CACHE_DIR", str(USER_CACHE))
    # The transformers engine, the reference, unless a test asks for another (--eval-engine beats this):
    # tests that compare figures run where they were measured, and vLLM loads only where a test needs it.
    monkeypatch.setenv("MODELEVAL_ENGINE", "hf")
    monkeypatch.delenv("MODELEVAL_TEST_FAIL_AT", raising=False)
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pytester(pytester, monkeypatch):
    """In-process runs reuse the plugin this session already imported; pytest then warns that it
    cannot assert-rewrite it again. That warning is about the test set-up, not the plugin."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning")
    # Collect earlier tests' garbage now, not in the middle of the in-process run: CPython 3.11 before
    # 3.11.8 raises "AST constructor recursion depth mismatch" when a finalizer (an unclosed DB connection's
    # ResourceWarning) runs Python code while pytest parses a traceback's source.
    gc.collect()
    return pytester


@pytest.fixture
def shared_data():
    """The reference benchmark data beside the checkout (../shared/data); tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("reference benchmark data (../shared/data next to the repo) is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server per test session (tests/support/pgserver.py); skips without the binaries,
    fails under scripts/test.sh (MODELEVAL_REQUIRE_POSTGRES=1), where install.sh has installed them."""
    from pgserver import start

    server = start()
    if server is None:
        if os.environ.get("MODELEVAL_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL's initdb was not found: scripts/install.sh installs Debian's postgresql package")
        pytest.skip("PostgreSQL's initdb / pg_ctl are not installed (Debian: apt-get install postgresql)")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL (password included) of a fresh, empty database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def results_db(request, tmp_path):
    """A results DB not created yet, on each backend: a SQLite path, or the URL of an empty PostgreSQL DB."""
    if request.param == "sqlite":
        return tmp_path / "results.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the whole test session (two CPUs), shut down at its end; tests without ray skip."""
    ray = pytest.importorskip("ray")
    from pytest_modeleval.engines import ray_cluster

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env=ray_cluster.runtime_env(remote=False))
    try:
        yield ray_cluster.connect()
    finally:
        ray_cluster.disconnect()
        ray.shutdown()
