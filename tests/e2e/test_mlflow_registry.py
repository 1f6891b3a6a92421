"""Checkpoints from a real MLflow model registry, verdicts written back to it, the alias moved by promotion, and
new versions watched (issue 30, parts 1, 2, 3 and 5).

One `mlflow server` for the module (tests/support/mlflowserver.py: a free loopback port, a temporary backend store,
a fresh database on the tests' PostgreSQL, and a temporary artifact root; its whole process group ends with the
module). Two versions of the embedded model are registered: the
GGUF file itself, and a damaged copy of it (bytes of its tensor data overwritten: another checkpoint by content;
the demo's damaged checkpoint, scripts/damaged_checkpoint.py, is 516 MB of float32 and takes half a minute to
build, more than this module may spend). The block / promote logic runs on a data-driven suite (an item is right
when its `answer` is 42, no model call, as in test_gates_session.py), so it costs no model load; one run evaluates
version 1 for real, on three items of an example suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from evalkit import query
from processes import left_behind, tagged_env
from testpaths import REPO

mlflow = pytest.importorskip("mlflow")

from mlflowserver import start  # noqa: E402
from pytest_modeleval.cli import main as modeleval  # noqa: E402
from pytest_modeleval.modelref import content_hash, embedded_gguf_path  # noqa: E402

NAME = "tiny-chat"
DB = ".modeleval/results.sqlite"
SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_demo(item):
    assert item["answer"] == 42
"""


@pytest.fixture(scope="module")
def server(request):
    """One server for the module, its backend store a fresh database on the tests' PostgreSQL (a SQLite file where
    this machine has no PostgreSQL; CI has it): a second server for the other backend would cost another 15 to 30
    s of start-up (MLflow's migrations), and our code talks to either over the same HTTP API."""
    try:
        backend = request.getfixturevalue("postgres_server").create_database("mlflow")
        backend = backend.replace("postgresql://", "postgresql+psycopg://", 1)
    except pytest.skip.Exception:
        backend = None
    running = start(backend)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """The embedded GGUF with 64 KiB of its tensor data overwritten (the header and metadata are intact)."""
    path = tmp_path_factory.mktemp("damaged") / "tiny-damaged.gguf"
    shutil.copyfile(embedded_gguf_path(), path)
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(bytes(range(256)) * 256)
    return path


def client(url: str):
    return mlflow.MlflowClient(tracking_uri=url, registry_uri=url)


def register(url: str, name: str, model_file) -> str:
    """A new version of `name` whose files are `model_file`, logged in a run of its own; its version number."""
    c = client(url)
    try:
        c.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass  # registered already
    experiment = c.get_experiment_by_name("training") or c.get_experiment(c.create_experiment("training"))
    run = c.create_run(experiment.experiment_id).info.run_id
    c.log_artifact(run, str(model_file), "model")
    c.set_terminated(run)
    return c.create_model_version(name, f"runs:/{run}/model", run_id=run).version


def write(pytester, right: int, wrong: int = 0) -> None:
    rows = [{"answer": 42}] * right + [{"answer": 41}] * wrong
    (pytester.path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (pytester.path / "test_demo.py").write_text(SUITE)


@pytest.fixture
def registry_env(monkeypatch, server):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return server.url


def test_the_damaged_candidate_is_blocked_tagged_and_never_promoted(pytester, registry_env, damaged, capsys):
    url = registry_env
    healthy = register(url, NAME, embedded_gguf_path())
    bad = register(url, NAME, damaged)
    c = client(url)
    c.set_registered_model_alias(NAME, "candidate", healthy)

    write(pytester, 20)
    first = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--model=mlflow:{NAME}@candidate",
                                         "--junitxml=first.xml")
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines([f"*mlflow {NAME}@candidate = version {healthy} (gguf, from {url}; resolved once*",
                                f"mlflow: verdicts written to {NAME} version {healthy} on {url}: MLflow run *"])
    [row] = query(pytester.path / DB, "SELECT model_hash, model_kind, mlflow_model, mlflow_version, mlflow_alias, "
                                      "mlflow_server, mlflow_run FROM runs")
    assert row["model_hash"] == content_hash(embedded_gguf_path()) and row["model_kind"] == "gguf"
    assert (row["mlflow_model"], row["mlflow_version"], row["mlflow_alias"], row["mlflow_server"]) == \
        (NAME, healthy, "candidate", url)
    assert c.get_model_version(NAME, healthy).tags["modeleval.gates"] == "pass"

    # the healthy version is promoted: @production moves to it, tagged with who moved it
    capsys.readouterr()
    assert modeleval(["promote", f"mlflow:{NAME}@candidate", "--by", "ci-bot", "--db", str(pytester.path / DB)]) == 0
    assert f"mlflow: moved @production of {NAME} to version {healthy}" in capsys.readouterr().out
    assert c.get_model_version_by_alias(NAME, "production").version == healthy
    assert c.get_model_version(NAME, healthy).tags["modeleval.promoted_by"] == "ci-bot"

    # @candidate moves to the damaged version; its run regresses against production and is blocked
    c.set_registered_model_alias(NAME, "candidate", bad)
    write(pytester, 10, 10)
    second = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--model=mlflow:{NAME}@candidate",
                                          "--junitxml=second.xml")
    assert second.ret == 10, second.stdout.str()
    second.stdout.fnmatch_lines([f"mlflow: alias @candidate of {NAME} moved between runs: version {healthy} in run 1, "
                                 f"version {bad} in this run"])
    tags = c.get_model_version(NAME, bad).tags
    assert tags["modeleval.gates"] == "fail" and tags["modeleval.run"] == "2" and tags["modeleval.gates_failed"] == "1"
    assert tags["modeleval.sha256"] == content_hash(damaged) != content_hash(embedded_gguf_path())
    written = c.get_run(tags["modeleval.mlflow_run"])
    assert written.data.tags["modeleval.gate.no-regression.demo"] == "fail"
    assert written.data.tags["modeleval.model_version"] == bad
    assert written.data.metrics["demo.accuracy"] == 0.5 and written.data.metrics["gates_failed"] == 1
    artifacts = {a.path for a in c.list_artifacts(written.info.run_id)}
    assert artifacts == {"second.xml", "modeleval-summary.md"}
    page = open(mlflow.artifacts.download_artifacts(run_id=written.info.run_id, artifact_path="modeleval-summary.md",
                                                    tracking_uri=url, dst_path=str(pytester.path / "dl"))).read()
    assert "GATES FAILED: 1 of 1" in page
    [row] = query(pytester.path / DB, "SELECT mlflow_run FROM runs WHERE id = 2")
    assert row["mlflow_run"] == written.info.run_id

    # promotion refuses the damaged version, and @production stays on the healthy one
    capsys.readouterr()
    assert modeleval(["promote", f"mlflow:{NAME}@candidate", "--db", str(pytester.path / DB)]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err and f"@production of {NAME} was not moved (version {bad} is not promoted)" in err
    assert c.get_model_version_by_alias(NAME, "production").version == healthy


def test_a_reference_that_names_nothing_is_a_usage_error_naming_it(pytester, registry_env):
    register(registry_env, "errors-model", embedded_gguf_path())
    write(pytester, 2)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=models:/errors-model@nope")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*'models:/errors-model@nope': registered model 'errors-model' has no alias @nope on "
                                 f"{registry_env} (its aliases: none; its versions: 1)*"])


def test_a_write_back_that_fails_keeps_the_run_and_exits_3(pytester, registry_env, monkeypatch):
    """The registry answers at start-up and refuses at the end: the run is recorded, the job goes red."""
    register(registry_env, "refused-model", embedded_gguf_path())
    write(pytester, 3)
    def refuse(client, *args, **kwargs):
        raise mlflow.exceptions.MlflowException("PERMISSION_DENIED: read-only token")

    # on MLflow's client class: an in-process run may import our write-back module afresh (pytester drops the
    # modules an earlier in-process run imported first), so a patch on it could miss the run's copy
    monkeypatch.setattr(mlflow.MlflowClient, "create_run", refuse)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=mlflow:refused-model/1")
    assert result.ret == 3, result.stdout.str()
    result.stdout.fnmatch_lines([
        "mlflow: NOT written to refused-model version 1 on *: the MLflow run with the metrics, gate verdicts and "
        "artifacts (PERMISSION_DENIED: read-only token); the model version's tags (modeleval.gates, modeleval.run, "
        "...), written only after the run",
        "mlflow: exit status 3: the run is recorded as run 1, but its verdict did not reach the registry*"])
    [row] = query(pytester.path / DB, "SELECT exit_status, ended_at, mlflow_version FROM runs")
    assert row["exit_status"] == 0 and row["ended_at"] and row["mlflow_version"] == "1"


def test_a_version_from_the_registry_is_loaded_and_evaluated(tmp_path, registry_env):
    """The one real model load: version 1 of a registered model, three items of an example suite, on the CPU."""
    version = register(registry_env, "real-model", embedded_gguf_path())
    tag, env = tagged_env()
    db = tmp_path / "results.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "example_suites" / "test_facts_mc.py"),
         f"--model=mlflow:real-model/{version}", "--eval-limit=3", "--eval-engine=hf", f"--eval-db={db}",
         f"--eval-cache-db={tmp_path / 'cache.sqlite'}", "--eval-gate-mode=report", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert left_behind(tag) == []
    [run] = query(db, "SELECT model_hash, mlflow_version, requests FROM runs")
    assert run["model_hash"] == content_hash(embedded_gguf_path()) and run["mlflow_version"] == version
    outcomes = [r["outcome"] for r in query(db, "SELECT outcome FROM outcomes")]
    assert len(outcomes) == 3 and set(outcomes) <= {"correct", "wrong"} and run["requests"] > 0
    tags = client(registry_env).get_model_version("real-model", version).tags
    assert tags["modeleval.run"] == "1" and tags["modeleval.gates"] in ("pass", "none")


def test_mlflow_delivers_a_signed_webhook_and_the_watcher_queues_each_version_once(registry_env, tmp_path):
    """MLflow's own delivery reaches the endpoint, signed; a forged one is refused; two watchers on one DB queue a
    new version once, and a restarted watcher resumes after it (the cursor)."""
    from pytest_modeleval.cli.watch import RegistrySource, Watcher
    from pytest_modeleval.registry.webhook import Endpoint, Verifier, sign

    url = registry_env
    events = []
    endpoint = Endpoint("127.0.0.1", 0, Verifier("s3cret"), "watched", events.append).start()
    host, port = endpoint.address
    try:
        c = client(url)
        c.create_webhook("modeleval-watch", f"http://{host}:{port}/", ["model_version.created"], secret="s3cret")
        version = register(url, "watched", embedded_gguf_path())
        deadline = time.monotonic() + 20
        while not events and time.monotonic() < deadline:
            time.sleep(0.1)
        assert events == [f"watched version {version}"]
        body = json.dumps({"entity": "model_version", "action": "created", "data": {"name": "watched"}}).encode()
        forged = urllib.request.Request(f"http://{host}:{port}/", data=body, headers={
            "X-MLflow-Delivery-Id": "x", "X-MLflow-Timestamp": str(int(time.time())),
            "X-MLflow-Signature": sign("wrong secret", "x", str(int(time.time())), body)})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 401 and len(events) == 1
    finally:
        endpoint.close()

    db = tmp_path / "results.sqlite"
    stub = tmp_path / "stub-python"
    stub.write_text(f"#!/bin/sh\necho \"$@ $MLFLOW_TRACKING_URI\" >> {tmp_path / 'calls'}\nexit 0\n")
    stub.chmod(0o755)
    here = Watcher(db, RegistrySource("watched", url), ["-q"], python=str(stub))
    there = Watcher(db, RegistrySource("watched", url), ["-q"], python=str(stub))
    try:
        assert len(here.scan()) == 1 and there.scan() == []
        assert here.run_next() is True and there.run_next() is False
        assert (tmp_path / "calls").read_text() == f"-m pytest -q --model=mlflow:watched/{version} --eval-db={db} {url}\n"
        [row] = query(db, "SELECT status, path FROM watch_queue")
        assert (row["status"], row["path"]) == ("done", f"mlflow:watched/{version}")
        later = register(url, "watched", embedded_gguf_path())  # the same files: the same checkpoint
        restarted = Watcher(db, RegistrySource("watched", url), ["-q"], python=str(stub))
        assert restarted.scan() == [] and restarted.source.poller.cursor == int(later)
        restarted.close()
    finally:
        here.close()
        there.close()
