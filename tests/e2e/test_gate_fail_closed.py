"""Issue 27's probes of the gate, kept as tests: promotion integrity (content hashes, not git's index; the
suites' own repository; an uncommitted gate configuration is not promotable) and configuration typos
that used to switch a gate off with exit status 0. The suites never call the model (see
test_gates_session.py), so each run takes a fraction of a second."""

from __future__ import annotations

import json

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from test_gates_session import DB, git, run, write

OVERRIDE = """
[[override]]
model = "sha256:{model}"
gate = "no-regression"
suite = "demo"
reason = "accepted"
approver = "jane"
expires = 2999-12-31
"""


def committed_project(pytester, pyproject: str = "") -> None:
    """The demo suite (10 right), its pyproject and a .gitignore, committed in a new repository."""
    write(pytester, 10)
    (pytester.path / "pyproject.toml").write_text(pyproject)
    (pytester.path / ".gitignore").write_text(".modeleval/\n*.xml\n")
    git(pytester.path, "init", "-q")
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-q", "-m", "suites")


def commit(pytester, message: str = "more") -> None:
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-q", "-m", message)


def test_a_gate_weakened_in_an_uncommitted_pyproject_is_recorded_and_not_promotable(pytester, capsys):
    committed_project(pytester)
    assert run(pytester).ret == 0
    assert modeleval(["promote", "embedded", "--db", DB]) == 0
    write(pytester, 0, 10)  # every answer now wrong, committed: the gate must block it
    commit(pytester)
    (pytester.path / "pyproject.toml").write_text("[tool.modeleval.gates.no-regression]\nmargin = 1.0\n")
    weakened = run(pytester)
    assert weakened.ret == 0, weakened.stdout.str()  # the weakened gate passes the run...
    weakened.stdout.fnmatch_lines(["not promotable: *pyproject.toml (modified)*"])
    [row] = query(pytester.path / DB, "SELECT unreviewed FROM runs WHERE id = 2")
    assert json.loads(row["unreviewed"]) == ["pyproject.toml (modified)"]
    capsys.readouterr()
    assert modeleval(["promote", "embedded", "--db", DB]) == 1  # ...but cannot promote its checkpoint
    assert "pyproject.toml (modified)" in capsys.readouterr().err
    # a policy typed into the same uncommitted file allows nothing
    (pytester.path / "pyproject.toml").write_text("[tool.modeleval.promotion]\nallow-unreviewed = true\n")
    assert modeleval(["promote", "embedded", "--db", DB]) == 1
    assert "counts only in a committed pyproject.toml" in capsys.readouterr().err
    commit(pytester, "policy")  # the committed policy does
    assert modeleval(["promote", "embedded", "--db", DB]) == 0
    assert query(pytester.path / DB, "SELECT run_id FROM promotions ORDER BY id") == [{"run_id": 1}, {"run_id": 2}]


def test_an_uncommitted_suite_file_is_recorded(pytester):
    committed_project(pytester)
    (pytester.path / "test_demo.py").write_text((pytester.path / "test_demo.py").read_text() + "\n# edited\n")
    assert run(pytester).ret == 0
    [row] = query(pytester.path / DB, "SELECT unreviewed FROM runs")
    assert json.loads(row["unreviewed"]) == ["test_demo.py (modified)"]


def test_an_edited_override_hidden_from_git_with_assume_unchanged_is_ignored(pytester):
    from pytest_modeleval.modelref import resolve

    committed_project(pytester)
    assert run(pytester).ret == 0
    assert modeleval(["promote", "embedded", "--db", DB]) == 0
    write(pytester, 0, 10)
    overrides = pytester.path / "modeleval-overrides.toml"
    overrides.write_text(OVERRIDE.format(model="0" * 16))  # reviewed: an override for another model
    commit(pytester)
    overrides.write_text(OVERRIDE.format(model=resolve("embedded").sha256[:16]))
    git(pytester.path, "update-index", "--assume-unchanged", overrides.name)  # `git diff` now says clean
    result = run(pytester)
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["*overrides IGNORED*it has uncommitted changes*"])


def test_an_override_committed_in_another_repository_is_ignored(pytester, tmp_path_factory):
    from pytest_modeleval.gates import overrides

    committed_project(pytester)
    elsewhere = tmp_path_factory.mktemp("other")
    path = elsewhere / "modeleval-overrides.toml"
    path.write_text(OVERRIDE.format(model="ab" * 8))
    git(elsewhere, "init", "-q")
    git(elsewhere, "add", "-A")
    git(elsewhere, "commit", "-q", "-m", "override")
    assert overrides.load(path).status == "honoured"  # reviewed where it lives...
    loaded = overrides.load(path, repo=pytester.path)  # ...but not in the suites' repository
    assert loaded.status == "other repository" and not loaded.honoured
    assert "another git repository" in loaded.why_ignored()


# --- typos that switched a gate off ---------------------------------------------------------------------

@pytest.mark.parametrize(("pyproject", "expected"), [
    ('[tool.modeleval.gates.exact]\nmetric = "scor"\nmin = 0.5\n',
     "*FAIL exact[[]*[]]: no suite of this run records the metric 'scor' (did you mean 'score'?)*"),
    ("[tool.modeleval.gates.suites.dmeo.no-regression]\nmargin = 0.5\n",
     "*FAIL configuration[[]dmeo[]]:*this run has no suite 'dmeo' (did you mean 'demo'?)*"),
    ('[tool.modeleval.gates.suites.demo.wins]\nmetric = "win_rat"\nmin = 0.5\n',
     "*FAIL wins[[]demo[]]: suite demo records no 'win_rat'*"),
])
def test_a_rule_that_gates_nothing_blocks_the_run(pytester, pyproject, expected):
    write(pytester, 4)
    (pytester.path / "pyproject.toml").write_text(pyproject)
    result = run(pytester)
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines([expected])
    (pytester.path / "pyproject.toml").write_text(pyproject.rstrip() + "\noptional = true\n")
    assert run(pytester).ret == 0  # a rule that may legitimately gate nothing says so


@pytest.mark.parametrize(("pyproject", "args", "expected"), [
    ("[tool.modeleval.gate.no-regression]\nmargin = 0.5\n", (),
     "*unknown table [[]tool.modeleval.gate[]] (did you mean 'gates'?)*"),
    ("[tool.modeleval]\nlimt = 3\n", (), "*unknown key 'limt' in [[]tool.modeleval[]] (did you mean 'limit'?)*"),
    ("", ("--baseline=channel:prodution",),
     "*--baseline channel:prodution: nothing is promoted to channel 'prodution' (did you mean 'production'?)*"),
])
def test_typos_in_the_configuration_are_usage_errors(pytester, capsys, pyproject, args, expected):
    import fnmatch

    write(pytester, 2)
    assert run(pytester).ret == 0
    assert modeleval(["promote", "embedded", "--db", DB]) == 0
    (pytester.path / "pyproject.toml").write_text(pyproject)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stderr.lines + result.stdout.lines
    assert any(fnmatch.fnmatch(line, expected) for line in output), "\n".join(output)
    assert len(query(pytester.path / DB, "SELECT id FROM runs")) == 1
