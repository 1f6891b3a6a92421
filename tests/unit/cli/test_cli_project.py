"""A command reads pyproject.toml once (`cli.common.project()`), and the plugin and the command line take their
default paths from one home (`pytest_modeleval.paths`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_modeleval
from pytest_modeleval import config, paths
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.store import Store

A, B = "a" * 64, "b" * 64

FAILED_GATE = {"suite": "qa", "gate": "no-regression", "metric": "score", "kind": "regression", "verdict": "fail",
               "n": 2, "value": 0.5, "baseline_value": 1.0, "delta": -0.5, "p_value": 0.5,
               "message": "score fell 50.0 pts against baseline run 1"}


def add_run(path, model: str, values: list[int], *, gates=(), started=None) -> int:
    store = Store(path)
    rid = store.start_run({"model_ref": f"ckpt-{model[0]}", "model_hash": model, "model_kind": "hf-dir"})
    for i, value in enumerate(values):
        store.add_outcome(rid, {"suite": "qa", "item_id": f"qa-{i:04d}-p0", "test_id": f"t::qa[{i}]",
                                "outcome": "correct" if value else "wrong", "score": float(value)})
    for gate in gates:
        store.db["gates"].insert({"run_id": rid, **gate})
    store.finish_run(rid, 10 if gates else 0)
    store.update_run(rid, {"gate_status": "failed" if gates else "passed", "gates_failed": len(gates)})
    if started:
        store.update_run(rid, {"started_at": started})
    store.close()
    return rid


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    """A project whose pyproject.toml names the DB, the retention and the gates' correction; two runs in its DB."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.modeleval]\ndb = "history.sqlite"\n'
                                             '[tool.modeleval.retention]\ndays = 30\n'
                                             '[tool.modeleval.gates]\ncorrection = "bonferroni"\n')
    add_run(tmp_path / "history.sqlite", A, [1, 1, 1], started="2020-01-01T00:00:00+00:00")
    add_run(tmp_path / "history.sqlite", B, [1, 0, 1], gates=[FAILED_GATE])
    return tmp_path


@pytest.fixture
def reads(monkeypatch):
    """Every parse of a pyproject.toml (config.read_pyproject, the one parser `Project.read` calls)."""
    seen: list[Path] = []
    parse = config.read_pyproject

    def counting(path):
        seen.append(Path(path))
        return parse(path)

    monkeypatch.setattr(config, "read_pyproject", counting)
    return seen


@pytest.mark.parametrize("argv, status", [
    (["compare", "1", "2"], 0),  # the DB from the project, the correction from its gates
    (["prune", "--dry-run"], 0),  # the DB and the retention
    (["promote", "sha256:bbbbbbbb"], 1),  # the DB, the overrides file from the settings, the gate names
    (["gate", "2", "--baseline", "run:1"], 0),  # the rules, the settings, the overrides, the DB
    (["show", "latest"], 0),
])
def test_a_command_reads_pyproject_once(project_dir, reads, capsys, argv, status):
    assert modeleval(argv) == status, capsys.readouterr()
    assert reads == [project_dir / "pyproject.toml"]
    text = capsys.readouterr()
    if argv[0] == "compare":
        assert "(p adj: Bonferroni over the 1 comparisons, the gates' `correction`)" in text.out
    if argv[0] == "prune":
        assert "would delete 1 runs started before" in text.out


def test_each_command_reads_the_project_anew(project_dir, reads, capsys):
    assert modeleval(["prune", "--dry-run"]) == 0
    (project_dir / "pyproject.toml").write_text('[tool.modeleval]\ndb = "history.sqlite"\n'
                                                '[tool.modeleval.retention]\nday = 30\n')
    assert modeleval(["prune", "--dry-run"]) == 2
    assert "pyproject.toml [tool.modeleval.retention]: unknown key 'day' (known keys: days)" in capsys.readouterr().err
    assert len(reads) == 2


def test_an_invalid_pyproject_is_the_same_error_wherever_a_command_asks(project_dir, capsys):
    (project_dir / "pyproject.toml").write_text("[tool.modeleval\n")
    assert modeleval(["prune", "--dry-run"]) == 2
    assert "invalid TOML" in capsys.readouterr().err
    assert modeleval(["compare", "1", "2", "--db", "history.sqlite"]) == 2
    assert "invalid TOML" in capsys.readouterr().err


def test_the_plugin_and_the_commands_share_the_default_paths():
    from pytest_modeleval.cli import cache, common

    options = {option.name: option.default for option in config.OPTIONS}
    assert Path(options["db"]) == config.Settings().db == paths.RESULTS_DB == Path(common.DEFAULT_DB)
    assert Path(options["cache_db"]) == config.Settings().cache_db == paths.CACHE_DB == Path(cache.DEFAULT)
    assert Path(options["overrides"]) == config.Settings().overrides == paths.OVERRIDES_FILE
    assert paths.RESULTS_DB.parent == paths.CACHE_DB.parent == paths.AUDITS_DIR.parent == paths.STATE_DIR


def test_no_module_but_paths_writes_a_default_path():
    """A default path spelled out elsewhere would drift from the one the plugin uses (strings and docstrings)."""
    package = Path(pytest_modeleval.__file__).parent
    spelled = ("results.sqlite", "cache.sqlite", "modeleval-overrides.toml", ".modeleval/")
    found = []
    for file in sorted(package.rglob("*.py")):
        if file == package / "paths.py":
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    node.value == ".modeleval" or any(s in node.value for s in spelled)):
                found.append(f"{file.relative_to(package)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "default paths belong in pytest_modeleval/paths.py:\n" + "\n".join(found)
