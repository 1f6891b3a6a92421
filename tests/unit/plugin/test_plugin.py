"""The plugin through pytest itself (pytester): ids, skipping, outcomes, the results DB,
the summary, options, collection errors, xdist, JUnit XML and one run of the real model.

Most suites here never call the model: with --model=embedded the plugin then only hashes
the GGUF (cached) and never loads an engine, so these runs take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from importlib import metadata

import pytest

from evalkit import query
from pytest_modeleval.items import sample_indices
from pytest_modeleval.modelref import embedded_gguf_path
from pytest_modeleval.stats import wilson

IMPORTS = "import pytest\nimport pytest_modeleval as modeleval\n"
DEFAULT_DB = ".modeleval/results.sqlite"
MIXED = """
@modeleval.suite("mixed", data="data.jsonl")
def test_mixed(item, record_score):
    kind = item["kind"]
    if kind == "wrong":
        assert item["answer"] == 42
    elif kind == "fail":
        pytest.fail("gave up")
    elif kind == "boom":
        raise RuntimeError("boom")
    elif kind == "missing":
        item["nope"]
    elif kind == "skip":
        pytest.skip("not today")
    elif kind == "partial":
        record_score(0.25)
    elif kind == "badscore":
        record_score(2)
"""
# kind -> (outcome, score, text in the stored message); "right" just passes.
MIXED_EXPECTED = {
    "right": ("correct", 1.0, None),
    "wrong": ("wrong", 0.0, "assert 41 == 42"),
    "fail": ("wrong", 0.0, "gave up"),
    "boom": ("error", None, "RuntimeError: boom"),
    "missing": ("error", None, "has no field 'nope'"),
    "skip": ("skipped", None, None),
    "partial": ("correct", 0.25, None),
    "badscore": ("error", None, "got 2"),
}



@pytest.fixture(scope="module")
def embedded_hash() -> str:
    """sha256 of the embedded GGUF, computed here independently of the plugin's hash cache."""
    return hashlib.sha256(embedded_gguf_path().read_bytes()).hexdigest()


def answer_suite(name: str = "demo", func: str = "test_x", **options) -> str:
    """Source of a suite whose items are right when item['answer'] == 42; it never calls the model."""
    options.setdefault("data", "data.jsonl")
    args = "".join(f", {key}={value!r}" for key, value in options.items())
    return f"""
@modeleval.suite({name!r}{args})
def {func}(item):
    assert item["answer"] == 42
"""


def answers(*values) -> list[dict]:
    return [{"answer": value} for value in values]


def write_suite(pytester, source: str, rows: list[dict] | None = None, *,
                module: str = "test_suite", data: str = "data.jsonl") -> None:
    """A test module (with the suite imports) and, when rows are given, its JSONL data file."""
    if rows is not None:
        (pytester.path / data).write_text("".join(json.dumps(row) + "\n" for row in rows))
    pytester.makepyfile(**{module: IMPORTS + textwrap.dedent(source)})


def run(pytester, *args):
    """pytest in this process: the plugin and any loaded model are shared between runs."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def collected_ids(pytester, *args) -> list[str]:
    """The collected tests of a run, without the module part of the node id."""
    result = run(pytester, "--collect-only", "-q", *args)
    assert result.ret == 0, result.stdout.str()
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]




def ids(suite: str, indices) -> list[str]:
    return [f"test_x[{suite}-{i:04d}-p0]" for i in indices]


def summary_row(result, suite: str) -> list[str]:
    """The cells of a suite's row in the modeleval summary table."""
    start = next(i for i, line in enumerate(result.outlines) if "modeleval summary" in line)
    row = next(line for line in result.outlines[start:] if line.split()[:1] == [suite])
    return row.replace(", ", ",").split()


# --- test ids -------------------------------------------------------------------------------------


def test_ids_are_suite_row_variant_in_file_order(pytester):
    """Each JSONL row becomes test_x[<suite>-<row>-p0], in file order."""
    write_suite(pytester, answer_suite(), answers(42, 41, 42))
    assert collected_ids(pytester) == ids("demo", range(3))


def test_seeded_sample_is_a_stable_subset(pytester):
    """sample= with seed= picks the same rows on every run, whatever --eval-seed says."""
    write_suite(pytester, answer_suite(sample=3, seed=7), answers(*range(10)))
    expected = ids("demo", sample_indices(10, seed=7, suite="demo", sample=3))
    assert len(expected) == 3 and expected != ids("demo", range(3))
    assert collected_ids(pytester) == expected
    assert collected_ids(pytester) == expected
    assert collected_ids(pytester, "--eval-seed", "5") == expected


def test_unseeded_sample_follows_eval_seed(pytester):
    """Without seed=, the sample is drawn with --eval-seed."""
    write_suite(pytester, answer_suite(sample=3), answers(*range(10)))
    assert collected_ids(pytester, "--eval-seed", "5") == ids("demo", sample_indices(10, seed=5, suite="demo",
                                                                                         sample=3))
    assert collected_ids(pytester, "--eval-seed", "5") != collected_ids(pytester, "--eval-seed", "6")


def test_eval_limit_keeps_the_first_items(pytester):
    """--eval-limit N runs the first N items, for quick runs."""
    write_suite(pytester, answer_suite(), answers(*range(5)))
    assert collected_ids(pytester, "--eval-limit", "2") == ids("demo", range(2))


def test_id_field_names_items(pytester):
    """id_field= uses the row's own id, made safe for node ids."""
    write_suite(pytester, answer_suite(id_field="qid"),
                [{"qid": "q/1", "answer": 42}, {"qid": "q2", "answer": 42}])
    assert collected_ids(pytester) == ["test_x[demo-q_1-p0]", "test_x[demo-q2-p0]"]


# --- no model -------------------------------------------------------------------------------------


def test_without_model_eval_tests_skip_and_plain_tests_run(pytester):
    """No --model: suite tests and `model` users are skipped naming --model; plain tests run; no DB."""
    write_suite(pytester, answer_suite() + """
def test_uses_model(model):
    raise AssertionError("must not run")

def test_plain():
    pass
""", answers(42, 41))
    result = run(pytester, "-rs")
    assert result.ret == 0
    assert result.parseoutcomes() == {"passed": 1, "skipped": 3}
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert skips and all("--model" in line for line in skips)
    assert "modeleval summary" not in result.stdout.str()
    assert not (pytester.path / ".modeleval").exists()


# --- outcomes -------------------------------------------------------------------------------------


def test_outcomes_are_classified(pytester):
    """assert / pytest.fail -> wrong (W); other exceptions and bad scores -> error (E); skip -> skipped."""
    write_suite(pytester, MIXED, [{"kind": kind, "answer": 41} for kind in MIXED_EXPECTED])
    result = run(pytester, "--model=embedded")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # errors fail the run, wrong answers do not
    assert result.parseoutcomes() == {"passed": 2, "wrong": 2, "errors": 3, "skipped": 1}
    result.stdout.fnmatch_lines(["test_suite.py .WWEEs.E *"])
    assert summary_row(result, "mixed")[:6] == ["mixed", "4", "2", "2", "3", "50.0%"]

    db = pytester.path / DEFAULT_DB
    assert [r["exit_status"] for r in query(db, "SELECT exit_status FROM runs")] == [1]
    rows = query(db, "SELECT * FROM outcomes ORDER BY id")
    assert [row["item_id"] for row in rows] == [f"mixed-{i:04d}-p0" for i in range(len(MIXED_EXPECTED))]
    for row, (kind, (outcome, score, message)) in zip(rows, MIXED_EXPECTED.items()):
        assert (row["outcome"], row["score"]) == (outcome, score), kind
        if message:
            assert message in row["message"], kind
        assert row["suite"] == "mixed" and row["variant"] == 0 and row["run_id"] == 1
        assert row["test_id"] == f"test_suite.py::test_mixed[{row['item_id']}]"


def test_wrong_answers_do_not_fail_the_run(pytester):
    """A wrong answer is a result, not a broken test: exit status 0."""
    write_suite(pytester, answer_suite(), answers(41, 41))
    result = run(pytester, "--model=embedded")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"wrong": 2}


# --- the results database -------------------------------------------------------------------------


def test_run_and_suite_rows(pytester, embedded_hash):
    """The runs row identifies model, settings and environment; the suites row the data and sample."""
    write_suite(pytester, answer_suite(sample=4, seed=9), answers(*[42] * 6))
    result = run(pytester, "--model=embedded", "--eval-seed", "3", "--eval-limit", "3")
    assert result.ret == 0
    db = pytester.path / DEFAULT_DB
    assert not db.with_name(db.name + "-wal").exists()  # the session closed the DB (SQLite drops the WAL)
    [r] = query(db, "SELECT * FROM runs")
    assert r["id"] == 1 and r["model_ref"] == "embedded" and r["model_hash"] == embedded_hash
    assert (r["seed"], r["eval_limit"], r["exit_status"]) == (3, 3, 0)
    assert r["command"].startswith("pytest ") and "--model=embedded --eval-seed 3 --eval-limit 3" in r["command"]
    assert r["started_at"] and r["ended_at"] and r["ended_at"] >= r["started_at"]
    assert r["harness_version"] == metadata.version("pytest-modeleval")
    assert r["python"] == platform.python_version()
    assert r["engine"] == "hf" and r["engine_dtype"] is None  # the model was never loaded

    [s] = query(db, "SELECT * FROM suites")
    data_sha = hashlib.sha256((pytester.path / "data.jsonl").read_bytes()).hexdigest()
    expected = {"run_id": 1, "suite": "demo", "source": "data.jsonl", "data_sha256": data_sha, "n_rows": 6,
                "sample": 4, "sample_seed": 9, "chat": 0, "truncate": 0}
    assert {k: s[k] for k in expected} == expected
    assert all(s[k] is None for k in set(s) - set(expected))  # the judge's columns: not a judged suite
    chosen = sample_indices(6, seed=9, suite="demo", sample=4)[:3]
    assert [row["item_id"] for row in query(db, "SELECT item_id FROM outcomes ORDER BY id")] == \
        [f"demo-{i:04d}-p0" for i in chosen]


def test_eval_db_option_is_honoured(pytester):
    """--eval-db puts the results there (relative to the invocation directory), not in the default."""
    write_suite(pytester, answer_suite(), answers(42))
    assert run(pytester, "--model=embedded", "--eval-db", "other.sqlite").ret == 0
    assert not (pytester.path / DEFAULT_DB).exists()
    assert len(query(pytester.path / "other.sqlite", "SELECT * FROM outcomes")) == 1


def test_second_run_appends_and_leaves_the_first_alone(pytester):
    """Runs accumulate: run 2 gets its own id and rows; run 1's rows are untouched."""
    write_suite(pytester, answer_suite(), answers(42, 41))
    db = pytester.path / DEFAULT_DB
    assert run(pytester, "--model=embedded").ret == 0
    first = (query(db, "SELECT * FROM runs"), query(db, "SELECT * FROM outcomes"), query(db, "SELECT * FROM suites"))
    write_suite(pytester, answer_suite(), answers(41, 42))
    assert run(pytester, "--model=embedded").ret == 0
    assert [r["id"] for r in query(db, "SELECT id FROM runs ORDER BY id")] == [1, 2]
    assert (query(db, "SELECT * FROM runs WHERE id = 1"), query(db, "SELECT * FROM outcomes WHERE run_id = 1"),
            query(db, "SELECT * FROM suites WHERE run_id = 1")) == first
    assert [r["outcome"] for r in query(db, "SELECT outcome FROM outcomes WHERE run_id = 2 ORDER BY id")] == \
        ["wrong", "correct"]


# --- summary and header ---------------------------------------------------------------------------


def test_summary_shows_accuracy_and_wilson_interval(pytester):
    """One row per suite: n, correct, wrong, errors, accuracy, Wilson 95% CI, mean score."""
    write_suite(pytester, answer_suite(name="quarter"), answers(42, 42, 41, 42))
    result = run(pytester, "--model=embedded")
    assert result.ret == 0 and result.parseoutcomes() == {"passed": 3, "wrong": 1}
    low, high = wilson(3, 4)
    assert (f"{100 * low:.1f}", f"{100 * high:.1f}") == ("30.1", "95.4")
    result.stdout.fnmatch_lines(["*= modeleval summary =*", "suite * n * correct * wrong * errors * accuracy *"])
    assert summary_row(result, "quarter") == ["quarter", "4", "3", "1", "0", "75.0%", "[30.1%,95.4%]", "0.750",
                                              "0", "-", "0/0"]  # no model calls: no requests, no tokens


def test_header_prints_the_full_model_hash(pytester, embedded_hash):
    """The session header names the exact weights evaluated."""
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = run(pytester, "--model=embedded")
    assert f"modeleval: sha256:{embedded_hash}" in result.outlines


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["--eval-limit", "0"], ["--eval-limit", "'0'"]),
    (["--eval-limit", "abc"], ["--eval-limit", "'abc'"]),
    (["--eval-seed", "x"], ["--eval-seed", "'x'"]),
    (["--eval-seed", "9" * 30], ["--eval-seed", "from 0 to 2**63 - 1"]),  # was an INTERNALERROR at the DB
    (["--eval-dtype", "fp8"], ["--eval-dtype", "'fp8'", "auto, float32, bfloat16, float16"]),
    (["--eval-batch-size", "-1"], ["--eval-batch-size", "'-1'"]),
    (["--model=sha256:zz"], ["--model", "sha256:zz"]),
    (["--model=no/such/model.gguf"], ["--model", "no/such/model.gguf", "does not exist"]),
    (["--model=sha256:deadbeef"], ["--model", "sha256:deadbeef", "registry"]),
])
def test_invalid_options_are_usage_errors(pytester, args, expected):
    """A bad option value stops pytest before collection, naming the option and the value."""
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert all(text in error for text in expected), error


def test_pyproject_settings_apply_and_the_command_line_wins(pytester):
    """[tool.modeleval] in pyproject.toml sets defaults; the command line overrides them."""
    pytester.makepyprojecttoml('[tool.modeleval]\neval-limit = 1\nmodel = "embedded"\n')
    write_suite(pytester, answer_suite(), answers(42, 42, 42))
    assert collected_ids(pytester) == ids("demo", range(1))
    assert collected_ids(pytester, "--eval-limit", "2") == ids("demo", range(2))
    assert run(pytester).parseoutcomes() == {"passed": 1}  # model from pyproject: not skipped


@pytest.mark.parametrize(("table", "expected"), [
    ("eval-limt = 1", ["unknown key 'eval-limt'", "[tool.modeleval]"]),
    ("eval-limit = 0", ["pyproject.toml [tool.modeleval] eval-limit", "0"]),
    ("limit = true", ["pyproject.toml [tool.modeleval] limit", "True"]),
    ('eval-seed = "x"', ["pyproject.toml [tool.modeleval] eval-seed", "'x'"]),
])
def test_bad_pyproject_settings_are_usage_errors(pytester, table, expected):
    """Typos and bad values in [tool.modeleval] are usage errors naming the file's key."""
    pytester.makepyprojecttoml(f"[tool.modeleval]\n{table}\n")
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert all(text in result.stderr.str() for text in expected), result.stderr.str()


def test_sha256_prefix_resolves_in_the_pyproject_registry(pytester, embedded_hash):
    """`registry = "checkpoints/"` in [tool.modeleval] lets --model=sha256:<prefix> find a checkpoint."""
    checkpoints = pytester.mkdir("checkpoints")
    (checkpoints / "smol.gguf").symlink_to(embedded_gguf_path())
    pytester.makepyprojecttoml('[tool.modeleval]\nregistry = "checkpoints/"\nlimit = 1\n')
    write_suite(pytester, answer_suite(), answers(42, 42))
    result = run(pytester, f"--model=sha256:{embedded_hash[:10]}")
    assert result.ret == 0 and f"modeleval: sha256:{embedded_hash}" in result.stdout.str()
    assert query(pytester.path / DEFAULT_DB, "select model_ref, model_kind, model_hash from runs") == [
        {"model_ref": f"sha256:{embedded_hash[:10]}", "model_kind": "gguf", "model_hash": embedded_hash}]


# --- data errors at collection --------------------------------------------------------------------


@pytest.mark.parametrize(("files", "expected"), [
    pytest.param({"test_suite.py": answer_suite(), "data.jsonl": '{"answer": 42}\n{"answer": \n'},
                 ["*data.jsonl:2: invalid JSON*"], id="malformed-jsonl"),
    pytest.param({"test_suite.py": answer_suite(data="missing.jsonl")},
                 ["*missing.jsonl: data file not found*"], id="missing-file"),
    pytest.param({"test_suite.py": "@modeleval.suite('demo', data=[{'a': 1}])\ndef test_x(model):\n    pass\n"},
                 ["*suite 'demo' needs an `item` argument*"], id="no-item-argument"),
    pytest.param({"test_suite.py": answer_suite(data=[{"answer": 42}]),
                  "test_suite2.py": answer_suite(func="test_y", data=[{"answer": 42}])},
                 ["*test_suite2.py::test_y: suite name 'demo' is already used by test_suite.py::test_x*"],
                 id="duplicate-suite-name"),
])
def test_data_errors_stop_the_run_at_collection(pytester, files, expected):
    """Broken suite data or declarations fail collection with a pointed message; nothing runs."""
    for name, text in files.items():
        (pytester.path / name).write_text(IMPORTS + text if name.endswith(".py") else text)
    pytester.makepyfile(test_other="def test_other(): pass")
    result = run(pytester, "--model=embedded")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(expected + ["*Interrupted: 1 error during collection*"])
    assert result.parseoutcomes() == {"errors": 1}  # nothing ran, not even test_other


# --- xdist, imports, JUnit XML --------------------------------------------------------------------


def test_xdist_records_one_run_from_the_controller(pytester):
    """Workers send outcomes to the controller, which alone writes the DB: one run, six rows."""
    pytest.importorskip("xdist")
    write_suite(pytester, answer_suite(), answers(42, 41, 42, 41, 42, 42))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--model=embedded", timeout=300)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 4, "wrong": 2}
    db = pytester.path / DEFAULT_DB
    [r] = query(db, "SELECT * FROM runs")
    assert r["ended_at"] and r["exit_status"] == 0
    rows = query(db, "SELECT run_id, item_id, outcome FROM outcomes ORDER BY item_id")
    assert [(row["run_id"], row["item_id"]) for row in rows] == [(1, f"demo-{i:04d}-p0") for i in range(6)]
    assert [row["outcome"] for row in rows] == ["correct", "wrong"] * 2 + ["correct"] * 2
    assert len(query(db, "SELECT * FROM suites")) == 1


def test_importing_the_plugin_stays_light():
    """pytest loads the plugin in every project that has it installed: no heavy imports."""
    heavy = ["torch", "transformers", "sqlalchemy", "huggingface_hub"]
    code = f"import sys, pytest_modeleval.plugin; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_junit_xml_reports_wrong_answers_as_passing_with_outcome_property(pytester):
    """CI sees wrong answers as passing testcases, with the eval outcome and score as properties."""
    write_suite(pytester, answer_suite(), answers(42, 41))
    assert run(pytester, "--model=embedded", "--junitxml=r.xml").ret == 0
    cases = ET.parse(pytester.path / "r.xml").getroot().iter("testcase")
    found = {case.get("name"): case for case in cases if case.get("classname") != "modeleval.gates"}
    assert set(found) == set(ids("demo", range(2)))
    for name, outcome, score in zip(ids("demo", range(2)), ["correct", "wrong"], ["1.0", "0.0"]):
        case = found[name]
        assert case.find("failure") is None and case.find("error") is None
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        assert props == [("modeleval_outcome", outcome), ("modeleval_score", score)]


# --- end to end with the real embedded model ------------------------------------------------------

E2E = """
@modeleval.suite("gen", data="gen.jsonl", chat=True)
def test_gen(item, model):
    answer = model.generate(item["question"], max_tokens=8)
    assert isinstance(answer, str) and answer

@modeleval.suite("mc", data="mc.jsonl")
def test_mc(item, model):
    assert model.choose(item["question"], [" blue", " green"]) in (0, 1)
"""


def test_end_to_end_with_the_embedded_model(pytester, embedded_hash):
    """Real generation (chat) and loglikelihood calls: prompts, hashes and answers land in the DB."""
    pytest.importorskip("torch")  # outside the pytester run, like numpy in evalkit
    pytest.importorskip("transformers")
    questions = ["What is 2 + 2?", "Name a colour."]
    write_suite(pytester, E2E, [{"question": q} for q in questions], data="gen.jsonl")
    (pytester.path / "mc.jsonl").write_text("".join(json.dumps({"question": f"Q: {q}\nA:"}) + "\n"
                                                    for q in ["What colour is the sky?", "What colour is grass?"]))
    result = run(pytester, "--model=embedded")
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 4}
    db = pytester.path / DEFAULT_DB
    [r] = query(db, "SELECT * FROM runs")
    assert r["engine"] == "hf" and r["model_hash"] == embedded_hash
    assert r["engine_dtype"] in ("float32", "bfloat16") and r["engine_version"] and r["engine_device"]
    assert r["chat_template_sha256"] and len(r["chat_template_sha256"]) == 64

    rows = query(db, "SELECT * FROM outcomes ORDER BY id")
    assert [row["outcome"] for row in rows] == ["correct"] * 4
    for row in rows:
        assert row["prompt_hash"] == hashlib.sha256(row["prompt"].encode()).hexdigest()
        assert row["response"]
    gen, mc = rows[:2], rows[2:]
    for row, question in zip(gen, questions):
        assert question in row["prompt"] and row["prompt"] != question  # the chat template was applied
    for row in mc:
        prompts, scores = json.loads(row["prompt"]), json.loads(row["response"])
        assert [p.rsplit("A:", 1)[1] for p in prompts] == [" blue", " green"]
        assert len(scores) == 2 and all(isinstance(logprob, float) and logprob < 0 for logprob, _ in scores)


def test_an_unusable_prediction_cache_is_a_usage_error(pytester):
    """A cache path that cannot be opened stops the run before any test, naming the option."""
    write_suite(pytester, answer_suite(), answers(42))
    pytester.mkdir("not-a-file.sqlite")
    result = run(pytester, "--model=embedded", "--eval-cache-db=not-a-file.sqlite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--eval-cache-db" in result.stderr.str() + result.stdout.str()
