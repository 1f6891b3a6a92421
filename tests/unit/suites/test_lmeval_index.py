"""The on-disk index of lm-eval's built-in tasks gives the TaskManager lm-eval would build, and follows changes.

A small task directory stands in for lm-eval's own (indexing the real one twice would cost half a minute);
the fidelity tests in tests/e2e/ run the real one through it against lm-eval item by item.
"""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest

pytest.importorskip("lm_eval.tasks._index")
from lm_eval.tasks import TaskManager  # noqa: E402

from pytest_modeleval.suites.lmeval_index import cached_index, index_path  # noqa: E402

TASK = """task: {name}
dataset_path: json
output_type: generate_until
test_split: test
doc_to_text: "Q: {{{{question}}}}"
doc_to_target: "{target}"
"""


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELEVAL_CACHE_DIR", str(tmp_path / "cache"))
    built_in, mine = tmp_path / "built_in", tmp_path / "mine"
    for d in (built_in / "sub", mine):
        d.mkdir(parents=True)
    (built_in / "sub" / "alpha.yaml").write_text(TASK.format(name="alpha", target="a"))
    (built_in / "beta.yaml").write_text(TASK.format(name="beta", target="b"))
    (built_in / "group.yaml").write_text("group: both\ntask:\n  - alpha\n  - beta\n")
    (mine / "beta.yaml").write_text(TASK.format(name="beta", target="mine"))  # overrides the built-in one
    return built_in, mine


def _manager(built_in, mine, cached: bool) -> TaskManager:
    if not cached:
        return TaskManager(include_path=[str(built_in), str(mine)], include_defaults=False)
    with cached_index(built_in):
        return TaskManager(include_path=[str(built_in), str(mine)], include_defaults=False)


def test_the_cached_index_is_the_one_lm_eval_builds_and_is_read_back(dirs):
    built_in, mine = dirs
    plain = _manager(built_in, mine, cached=False)
    first = _manager(built_in, mine, cached=True)
    assert first.task_index == plain.task_index and first.all_tasks == plain.all_tasks == ["alpha", "beta", "both"]
    assert plain.task_index["beta"].yaml_path == mine / "beta.yaml"  # the later directory wins, as in lm-eval
    stored = index_path(built_in.resolve(), True)
    index = pickle.loads(stored.read_bytes())
    index["from_disk"] = dataclasses.replace(index["alpha"], name="from_disk")  # proof that the file is read
    stored.write_bytes(pickle.dumps(index))
    (mine / "gamma.yaml").write_text(TASK.format(name="gamma", target="g"))  # a user's directory: read afresh
    again = _manager(built_in, mine, cached=True)
    assert again.all_tasks == ["alpha", "beta", "both", "from_disk", "gamma"]
    assert again.task_index["beta"] == plain.task_index["beta"]


def test_a_changed_or_unreadable_built_in_directory_is_indexed_again(dirs):
    built_in, mine = dirs
    _manager(built_in, mine, cached=True)
    before = index_path(built_in.resolve(), True)
    (built_in / "delta.yaml").write_text(TASK.format(name="delta", target="d"))  # lm-eval reinstalled, say
    assert index_path(built_in.resolve(), True) != before
    assert "delta" in _manager(built_in, mine, cached=True).all_tasks
    after = index_path(built_in.resolve(), True)
    after.write_bytes(b"not a pickle")
    assert "delta" in _manager(built_in, mine, cached=True).all_tasks
    assert after.stat().st_size > 100  # written again, whole


def test_the_patch_is_undone_and_a_missing_cache_directory_is_no_error(dirs, monkeypatch):
    from lm_eval.tasks import manager

    built_in, mine = dirs
    original = manager.TaskIndex
    monkeypatch.setenv("MODELEVAL_CACHE_DIR", os.devnull + "/not-a-directory")
    assert _manager(built_in, mine, cached=True).all_tasks == ["alpha", "beta", "both"]
    assert manager.TaskIndex is original
