"""Issue 27: a run merged from shards carries what its shards recorded about review. A shard that ran with
an uncommitted gate configuration makes the union run (a run group's, or `modeleval merge`'s) as
unpromotable as the shard itself; `git_dirty` carries over the same way, and so do the errors of the
shard that completes a run group. Also: a misspelled rule is caught the same way under pytest-xdist as
without it.

The suites never call the model (see test_gates_session.py), so each run takes a fraction of a second.
"""

from __future__ import annotations

import json

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.results.merge import review_of
from test_gate_fail_closed import committed_project
from test_gates_session import DB, git, run, write

WEAKENED = "[tool.modeleval.gates.no-regression]\nmargin = 1.0\n"


def test_a_run_group_with_one_shard_on_a_dirty_gate_configuration_is_not_promotable(pytester, capsys):
    committed_project(pytester)
    (pytester.path / "pyproject.toml").write_text(WEAKENED)  # shard 2/2 runs on a weakened, uncommitted gate
    second = run(pytester, "--eval-shard=2/2", "--eval-run-group=ci-1")
    assert second.ret == 0, second.stdout.str()
    second.stdout.fnmatch_lines(["*the gates wait for the last shard*", "not promotable: *pyproject.toml (modified)*"])
    git(pytester.path, "checkout", "--", "pyproject.toml")  # shard 1/2, the last one in, is clean
    first = run(pytester, "--eval-shard=1/2", "--eval-run-group=ci-1")
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines(["*(complete): gated as one run, run 3*",
                                "not promotable: *pyproject.toml (modified)*"])
    runs = query(pytester.path / DB, "SELECT id, shard, unreviewed, git_dirty FROM runs ORDER BY id")
    assert [(r["shard"], json.loads(r["unreviewed"]), r["git_dirty"]) for r in runs] == [
        ("2/2", ["pyproject.toml (modified)"], 1), ("1/2", [], 0),
        ("group ci-1: 1/2 + 2/2", ["pyproject.toml (modified)"], 1)]
    capsys.readouterr()
    assert modeleval(["promote", "embedded", "--db", DB]) == 1
    err = capsys.readouterr().err
    assert "run 3, ran with gate configuration or suite files that were not the committed ones" in err
    assert "pyproject.toml (modified)" in err
    assert query(pytester.path / DB, "SELECT id FROM promotions") == []


def test_modeleval_merge_carries_a_dirty_shard(pytester, capsys):
    committed_project(pytester)
    clean, dirty, merged = ".modeleval/s1.sqlite", ".modeleval/s2.sqlite", ".modeleval/merged.sqlite"
    assert run(pytester, "--eval-shard=1/2", f"--eval-db={clean}").ret == 0
    (pytester.path / "test_demo.py").write_text((pytester.path / "test_demo.py").read_text() + "\n# edited\n")
    assert run(pytester, "--eval-shard=2/2", f"--eval-db={dirty}").ret == 0
    git(pytester.path, "checkout", "--", "test_demo.py")
    assert modeleval(["merge", merged, clean, dirty]) == 0
    [row] = query(pytester.path / merged, "SELECT unreviewed, git_dirty FROM runs")
    assert (json.loads(row["unreviewed"]), row["git_dirty"]) == (["test_demo.py (modified)"], 1)
    assert modeleval(["gate", "latest", "--db", merged]) == 0
    capsys.readouterr()
    assert modeleval(["promote", "embedded", "--db", merged]) == 1
    assert "test_demo.py (modified)" in capsys.readouterr().err


def test_the_last_shards_errors_count_in_the_union_run(pytester, capsys):
    """The union is built in the last shard's session, before its own run row is closed with its status."""
    write(pytester, 10)
    assert run(pytester, "--eval-shard=2/2", "--eval-run-group=ci-2").ret == 0
    write(pytester, 10, boom=10)  # every item of the last shard in crashes its grader
    last = run(pytester, "--eval-shard=1/2", "--eval-run-group=ci-2")
    assert last.ret == 1, last.stdout.str()
    last.stdout.fnmatch_lines(["*(complete): gated as one run, run 3*"])
    runs = query(pytester.path / DB, "SELECT shard, exit_status FROM runs ORDER BY id")
    assert [(r["shard"], r["exit_status"]) for r in runs] == [("2/2", 0), ("1/2", 1), ("group ci-2: 1/2 + 2/2", 1)]
    capsys.readouterr()
    assert modeleval(["promote", "embedded", "--db", DB]) == 1
    assert "run 3, ended with exit status 1 (errors or failed tests)" in capsys.readouterr().err


def test_the_union_review_fails_closed():
    def shard(k, unreviewed, dirty):
        return {"id": k, "shard": f"{k}/3", "unreviewed": unreviewed, "git_dirty": dirty}

    # every shard outside git: NULL, as one run outside git records
    assert review_of([shard(1, None, None), shard(2, None, None)]) == {"unreviewed": None, "git_dirty": None}
    # clean shards stay clean; lists are united without repeats
    assert review_of([shard(1, "[]", 0), shard(2, "[]", 0)]) == {"unreviewed": "[]", "git_dirty": 0}
    both = review_of([shard(1, '["a.py (modified)"]', 1), shard(2, '["a.py (modified)", "b.py (untracked)"]', 0)])
    assert json.loads(both["unreviewed"]) == ["a.py (modified)", "b.py (untracked)"] and both["git_dirty"] == 1
    # a shard without the record beside shards with one is itself unreviewed
    mixed = review_of([shard(1, "[]", 0), shard(2, None, None), shard(3, "[]", 0)])
    assert json.loads(mixed["unreviewed"]) == [
        "shard 2/3 (no review recorded: outside git, gates off or an older harness)"]
    assert mixed["git_dirty"] == 0


def test_a_misspelled_metric_under_xdist_fails_the_run_as_without_it(pytester):
    """The check runs in the controller at the end, on the outcomes the workers report: the same verdict."""
    pytest.importorskip("xdist")
    write(pytester, 4)
    (pytester.path / "pyproject.toml").write_text('[tool.modeleval.gates.exact]\nmetric = "scor"\nmin = 0.5\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--model=embedded", timeout=300)
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*FAIL exact[[]*[]]: no suite of this run records the metric 'scor' (did you mean 'score'?)*",
        "*GATES FAILED: 1 of 1 (exit status 10)*"])
