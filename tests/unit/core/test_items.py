"""Loading suite data and selecting items: real benchmark formats, ids, sampling, errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pytest_modeleval.items import (
    DataError,
    HFSpec,
    Item,
    Source,
    load_items,
    load_rows,
    parse_hf_spec,
    select,
)
from testpaths import REPO, SHARED_DATA

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="reference benchmark data (../shared/data next to the repo) is absent"
)
MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(n: int) -> tuple[list[dict], Source]:
    rows = [{"q": str(i)} for i in range(n)]
    return rows, Source("inline rows", None, n)


def indices(items: list[Item]) -> list[int]:
    return [item.index for item in items]


def run_python(code: str, **env: str) -> str:
    """Run code in a fresh interpreter (fresh sys.modules, fresh hash seed) and return its stdout."""
    root = REPO
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(root), **env},
    )
    return result.stdout.strip()


# ---------------------------------------------------------------- real benchmark files


@needs_shared_data
def test_gsm8k_jsonl():
    items, source = load_items("gsm8k/test.jsonl", suite="gsm8k", base_dir=SHARED_DATA)
    assert source.n_rows == len(items) == 1319
    assert source.description == "gsm8k/test.jsonl"
    assert len(source.sha256) == 64
    assert set(items[0].fields) == {"question", "answer"}
    assert items[0]["question"].startswith("Janet")
    assert items[42].id == "gsm8k-0042-p0"
    assert items[-1].id == "gsm8k-1318-p0"


@needs_shared_data
def test_mmlu_csv_test_split():
    items, source = load_items("mmlu/test/abstract_algebra_test.csv", suite="aa", base_dir=SHARED_DATA)
    assert source.n_rows == 100
    assert list(items[0].fields) == MMLU_HEADER
    assert items[0]["answer"] in {"0", "1", "2", "3"}  # CSV values stay strings


@needs_shared_data
@pytest.mark.parametrize("path", sorted((SHARED_DATA / "mmlu" / "dev").glob("*.csv")), ids=lambda p: p.stem)
def test_mmlu_csv_dev_splits_have_five_shots(path):
    rows, source = load_rows(path, base_dir=Path("unused"))  # absolute path ignores base_dir
    assert source.n_rows == 5
    assert all(list(row) == MMLU_HEADER for row in rows)


@needs_shared_data
def test_humaneval_gzipped_jsonl_with_id_field():
    items, source = load_items(
        "humaneval/HumanEval.jsonl.gz", suite="humaneval", base_dir=SHARED_DATA, id_field="task_id"
    )
    assert source.n_rows == len(items) == 164
    assert items[0].id == "humaneval-HumanEval_0-p0"  # "/" sanitized
    assert items[0].key == "HumanEval/0"
    assert items[0]["entry_point"] == "has_close_elements"


@needs_shared_data
def test_file_hash_is_of_the_bytes_on_disk():
    import hashlib

    _, source = load_rows("humaneval/HumanEval.jsonl.gz", base_dir=SHARED_DATA)
    expected = hashlib.sha256((SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz").read_bytes()).hexdigest()
    assert source.sha256 == expected


# ---------------------------------------------------------------- formats


def test_json_list_and_wrapped_list(tmp_path):
    write(tmp_path / "list.json", json.dumps([{"a": 1}, {"a": 2}]))
    write(tmp_path / "wrapped.json", json.dumps({"version": 3, "data": [{"a": 1}]}))
    assert load_rows("list.json", base_dir=tmp_path)[0] == [{"a": 1}, {"a": 2}]
    assert load_rows("wrapped.json", base_dir=tmp_path)[0] == [{"a": 1}]


def test_json_object_needs_exactly_one_list(tmp_path):
    write(tmp_path / "two.json", json.dumps({"a": [{"x": 1}], "b": [{"x": 2}]}))
    with pytest.raises(DataError, match="exactly one list value"):
        load_rows("two.json", base_dir=tmp_path)


def test_json_non_object_row_reports_its_line(tmp_path):
    write(tmp_path / "rows.json", '{"data": [\n  {"a": 1},\n  {"a": 2},\n  "oops"\n]}\n')
    with pytest.raises(DataError, match=r"^rows\.json:4: row 2 is a string"):
        load_rows("rows.json", base_dir=tmp_path)


def test_invalid_json_reports_line(tmp_path):
    write(tmp_path / "bad.json", '[\n {"a": 1},\n {"a": }\n]')
    with pytest.raises(DataError, match=r"^bad\.json:3: invalid JSON"):
        load_rows("bad.json", base_dir=tmp_path)


def test_gzipped_csv_and_bom(tmp_path):
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress("\ufeffq,a\nx,1\n".encode()))
    rows, source = load_rows("d.csv.gz", base_dir=tmp_path)
    assert rows == [{"q": "x", "a": "1"}]
    assert source.n_rows == 1


def test_csv_quoted_multiline_field_and_blank_lines(tmp_path):
    write(tmp_path / "d.csv", 'q,a\n"two\nlines",1\n\nz,2\n')
    rows, _ = load_rows("d.csv", base_dir=tmp_path)
    assert rows == [{"q": "two\nlines", "a": "1"}, {"q": "z", "a": "2"}]


def test_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "d.jsonl", '{"a": 1}\n')
    assert load_rows("~/d.jsonl", base_dir=Path("elsewhere"))[1].n_rows == 1


def test_suffix_is_case_insensitive_and_dots_in_names_are_fine(tmp_path):
    write(tmp_path / "v1.2.data.JSONL", '{"a": 1}\n')
    assert load_rows("v1.2.data.JSONL", base_dir=tmp_path)[1].n_rows == 1


# ---------------------------------------------------------------- malformed files


def test_bad_jsonl_line_reports_physical_line(tmp_path):
    write(tmp_path / "d.jsonl", '{"a": 1}\n\n{"a": 2,,}\n')
    with pytest.raises(DataError, match=r"^d\.jsonl:3: invalid JSON: Expecting property name"):
        load_rows("d.jsonl", base_dir=tmp_path)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    write(tmp_path / "d.jsonl", '{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"^d\.jsonl:2: expected a JSON object, got an array"):
        load_rows("d.jsonl", base_dir=tmp_path)


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path):
    write(tmp_path / "d.jsonl", '{"a": "x\u2028y"}\n{"a": 2}\n')
    rows, _ = load_rows("d.jsonl", base_dir=tmp_path)
    assert rows[0]["a"] == "x\u2028y"


def test_error_names_the_file_as_written(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "d.jsonl", "nope\n")
    with pytest.raises(DataError, match=r"^sub/d\.jsonl:1: "):
        load_rows("sub/d.jsonl", base_dir=tmp_path)


@pytest.mark.parametrize(
    "text, line, count",
    [("q,a\nx,1\ny,2,3\n", 3, 3), ("q,a\nx,1\n\ny\n", 4, 1), ('q,a\n"multi\nline",1\nz\n', 4, 1)],
)
def test_csv_wrong_field_count_reports_line(tmp_path, text, line, count):
    write(tmp_path / "d.csv", text)
    with pytest.raises(DataError, match=rf"^d\.csv:{line}: {count} fields, but the header has 2"):
        load_rows("d.csv", base_dir=tmp_path)


def test_csv_repeated_header_column(tmp_path):
    write(tmp_path / "d.csv", "q,q\n1,2\n")
    with pytest.raises(DataError, match=r"^d\.csv:1: the CSV header repeats 'q'"):
        load_rows("d.csv", base_dir=tmp_path)


@pytest.mark.parametrize(
    "name, text", [("e.jsonl", ""), ("e.jsonl", "\n  \n"), ("e.json", "[]"), ("e.csv", "")]
)
def test_empty_file(tmp_path, name, text):
    write(tmp_path / name, text)
    with pytest.raises(DataError, match=rf"^{name}:1: the file has no rows"):
        load_rows(name, base_dir=tmp_path)


def test_csv_with_only_a_header(tmp_path):
    write(tmp_path / "h.csv", "q,a\n")
    with pytest.raises(DataError, match=r"^h\.csv:1: only a header"):
        load_rows("h.csv", base_dir=tmp_path)


def test_missing_file_names_resolved_path_and_base_dir(tmp_path):
    with pytest.raises(DataError) as info:
        load_rows("data/none.jsonl", base_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("data/none.jsonl: data file not found")
    assert str(tmp_path / "data" / "none.jsonl") in message
    assert f"suite's directory {tmp_path}" in message


def test_unknown_suffix_lists_supported(tmp_path):
    write(tmp_path / "d.parquet", "")
    with pytest.raises(DataError, match=r"\.jsonl, \.jsonl\.gz, \.json, \.json\.gz, \.csv, \.csv\.gz"):
        load_rows("d.parquet", base_dir=tmp_path)


def test_not_utf8_reports_line(tmp_path):
    (tmp_path / "d.jsonl").write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"^d\.jsonl:2: not valid UTF-8"):
        load_rows("d.jsonl", base_dir=tmp_path)


def test_corrupt_gzip(tmp_path):
    (tmp_path / "d.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"^d\.jsonl\.gz: not a valid gzip file"):
        load_rows("d.jsonl.gz", base_dir=tmp_path)


# ---------------------------------------------------------------- callables, inline rows, specs


def good_rows():
    return ({"q": str(i)} for i in range(3))


def bad_rows():
    return [{"q": "1"}, "two"]


def test_callable_rows():
    rows, source = load_rows(good_rows, base_dir=Path("."))
    assert rows == [{"q": "0"}, {"q": "1"}, {"q": "2"}]
    assert source == Source(f"callable {__name__}.good_rows", None, 3)


def test_bad_callable_row_names_callable_and_row():
    with pytest.raises(DataError, match=rf"^callable {__name__}\.bad_rows: row 1 is str, expected a dict"):
        load_rows(bad_rows, base_dir=Path("."))


@pytest.mark.parametrize("result", [{"q": 1}, 42, "rows"])
def test_callable_returning_non_rows(result):
    with pytest.raises(DataError, match="expected an iterable of dicts"):
        load_rows(lambda: result, base_dir=Path("."))


def test_inline_rows_and_unsupported_spec():
    assert load_rows([{"a": 1}], base_dir=Path("."))[1] == Source("inline rows", None, 1)
    with pytest.raises(DataError, match="unsupported data spec"):
        load_rows(3.5, base_dir=Path("."))


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("hf:gsm8k@test", HFSpec("gsm8k", None, "test")),
        ("hf:openai/gsm8k:main@test", HFSpec("openai/gsm8k", "main", "test")),
        ("hf:cais/mmlu:abstract_algebra@dev", HFSpec("cais/mmlu", "abstract_algebra", "dev")),
        ("hf:wikipedia:20220301.en@train[:100]", HFSpec("wikipedia", "20220301.en", "train[:100]")),
    ],
)
def test_parse_hf_spec(spec, expected):
    assert parse_hf_spec(spec) == expected


@pytest.mark.parametrize("spec", ["hf:gsm8k", "hf:@test", "hf:a/b/c@test", "hf:gsm8k:@test", "hf:x@a@b"])
def test_parse_hf_spec_rejects(spec):
    with pytest.raises(DataError, match=r"expected hf:NAME\[:CONFIG\]@SPLIT"):
        parse_hf_spec(spec)


@pytest.fixture
def hf_env(monkeypatch):
    """Let the loader set HF_DATASETS_OFFLINE, and undo it afterwards."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "unset")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")  # recorded, so teardown restores the original state
    return monkeypatch


def fake_datasets(monkeypatch, load_dataset) -> None:
    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", module)


def test_hf_without_datasets_gives_install_hint(hf_env):
    hf_env.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DataError, match=r"^hf:x:y@test: .*pip install 'pytest-modeleval\[datasets\]'"):
        load_rows("hf:x:y@test", base_dir=Path("."))


def test_hf_loads_offline_from_cache(hf_env):
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split, os.environ.get("HF_DATASETS_OFFLINE")))
        return [{"question": "q"}]

    fake_datasets(hf_env, load_dataset)
    rows, source = load_rows("hf:openai/gsm8k:main@test", base_dir=Path("."))
    assert rows == [{"question": "q"}]
    assert source == Source("hf:openai/gsm8k:main@test", None, 1)
    assert calls == [("openai/gsm8k", "main", "test", "1")]


def test_hf_not_cached_says_how_to_fetch_it(hf_env):
    def load_dataset(name, config, split):
        raise FileNotFoundError("not in cache")

    fake_datasets(hf_env, load_dataset)
    with pytest.raises(DataError, match=r"^hf:gsm8k@test: cannot load from the local datasets cache"):
        load_rows("hf:gsm8k@test", base_dir=Path("."))


# ---------------------------------------------------------------- ids and items


def test_id_width_grows_past_9999_rows():
    rows, source = rows_of(10_001)
    items = select(rows, source, suite="big", seed=0, sample=None, limit=None)
    assert items[7].id == "big-00007-p0"
    assert items[-1].id == "big-10000-p0"
    rows, source = rows_of(10_000)
    assert select(rows, source, suite="s", seed=0, sample=None, limit=None)[-1].id == "s-9999-p0"


def test_variant_in_id():
    assert Item("s", 3, {}, variant=2).id == "s-0003-p2"


def test_missing_field_message_names_field_item_and_fields():
    item = Item("gsm8k", 42, {"question": "q", "answer": "a"})
    with pytest.raises(KeyError) as info:
        item["anwser"]
    assert str(info.value) == (
        "item gsm8k-0042-p0 has no field 'anwser'; available fields: 'question', 'answer'"
    )
    assert item.get("anwser", "-") == "-"
    assert "answer" in item and "anwser" not in item


def test_item_fields_are_read_only_copies():
    rows, source = rows_of(2)
    item = select(rows, source, suite="s", seed=0, sample=None, limit=None)[0]
    rows[0]["q"] = "changed"
    assert item["q"] == "0"
    with pytest.raises(TypeError):
        item.fields["q"] = "x"
    assert hash(item) == hash(Item("s", 0, {"q": "0"}))


def test_id_field_keys_are_sanitized():
    rows = [{"id": "a/b c"}, {"id": 7}]
    items = select(rows, Source("x", None, 2), suite="s", seed=0, sample=None, limit=None, id_field="id")
    assert [item.id for item in items] == ["s-a_b_c-p0", "s-7-p0"]


def test_id_field_duplicate_is_named():
    rows = [{"id": "a"}, {"id": "b"}, {"id": "a"}]
    with pytest.raises(DataError, match=r"^x: duplicate 'id' 'a' in row 2 \(same id as row 0"):
        select(rows, Source("x", None, 3), suite="s", seed=0, sample=None, limit=None, id_field="id")


def test_id_field_keys_that_collide_after_sanitizing_are_duplicates():
    rows = [{"id": "a/b"}, {"id": "a b"}]
    with pytest.raises(DataError, match="duplicate"):
        select(rows, Source("x", None, 2), suite="s", seed=0, sample=None, limit=None, id_field="id")


def test_id_field_missing_names_the_row():
    rows = [{"id": "a"}, {"other": 1}]
    with pytest.raises(DataError, match=r"^x: row 1 has no value for id_field 'id'"):
        select(rows, Source("x", None, 2), suite="s", seed=0, sample=None, limit=None, id_field="id")


# ---------------------------------------------------------------- sampling and limit


def sampled(seed: int, sample: int | None, *, n: int = 100, suite: str = "s", limit: int | None = None):
    """Indices chosen from n rows."""
    rows, source = rows_of(n)
    return indices(select(rows, source, suite=suite, seed=seed, sample=sample, limit=limit))


def test_sample_is_deterministic_ordered_subset():
    first = sampled(seed=1, sample=10)
    assert first == sampled(seed=1, sample=10)
    assert first == sorted(set(first)) and len(first) == 10
    assert set(first) <= set(range(100))
    assert first != sampled(seed=2, sample=10)
    assert first != sampled(seed=1, sample=10, suite="other")


def test_sample_exact_indices_are_stable():
    # sha256(f"{seed}:{suite}:{index}") ranking; any change here changes every user's sample.
    assert sampled(seed=0, sample=5, n=20, suite="demo") == [7, 8, 11, 14, 15]
    assert sampled(seed=1, sample=5, n=20, suite="demo") == [1, 4, 7, 11, 15]


def test_sample_ignores_hash_randomisation():
    code = (
        "from pytest_modeleval.items import sample_indices;"
        "print(sample_indices(20, seed=0, suite='demo', sample=5))"
    )
    assert run_python(code, PYTHONHASHSEED="123") == "[7, 8, 11, 14, 15]"


def test_sampled_items_keep_their_source_index():
    items = select(*rows_of(50), suite="s", seed=3, sample=4, limit=None)
    assert all(item["q"] == str(item.index) for item in items)


@pytest.mark.parametrize("sample", [None, 100, 1000])
def test_sample_at_or_above_size_keeps_all(sample):
    assert sampled(seed=0, sample=sample) == list(range(100))


@pytest.mark.parametrize(
    "name, kwargs", [("sample", {"sample": 0}), ("sample", {"sample": -1}), ("limit", {"limit": 0})]
)
def test_non_positive_sample_or_limit(name, kwargs):
    rows, source = rows_of(5)
    options = {"sample": None, "limit": None, **kwargs}
    with pytest.raises(DataError, match=rf"{name} must be a positive number"):
        select(rows, source, suite="s", seed=0, **options)


def test_limit_keeps_first_in_file_order():
    assert sampled(seed=0, sample=None, limit=3) == [0, 1, 2]
    assert sampled(seed=1, sample=10, limit=3) == sampled(seed=1, sample=10)[:3]
    assert sampled(seed=0, sample=None, limit=1000) == list(range(100))


# ---------------------------------------------------------------- import cost


def test_import_does_not_pull_heavy_libraries():
    code = (
        "import sys, pytest_modeleval.items;"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'numpy') if m in sys.modules))"
    )
    assert run_python(code) == "[]"
