"""The promotion gate end to end with real checkpoints (the issue's check).

Promote the embedded model (SmolLM2-135M) to production; evaluate a deliberately broken checkpoint
of the same shape (random-init weights, saved as a real HF checkpoint with safetensors) and see it
blocked: the gate's JUnit testcase fails (parsed here) and the exit status is 10. Then evaluate the
production checkpoint against itself and see it pass.

The suite is 20 four-choice items the embedded model answers right (scored by loglikelihood, so
greedy and deterministic); a random-init model is at or below chance (2 of 20 here; chance is 5),
so the fall is 75 points or more with McNemar p below 1e-4, far from the 0.05 line: the test
cannot flake on noise.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from evalkit import embedded_engine, query
from pytest_modeleval.cli import main as modeleval

DB = ".modeleval/results.sqlite"
ITEMS = [
    ("Question: What is the capital of France?\nAnswer:", ["Berlin", "Madrid", "Paris", "Rome"], 2),
    ("The opposite of hot is", ["cold", "blue", "seven", "chair"], 0),
    ("Monday, Tuesday,", ["Wednesday", "apple", "green", "river"], 0),
    ("One, two, three,", ["car", "four", "moon", "hat"], 1),
    ("The cat sat on the", ["mat", "of", "seventeen", "although"], 0),
    ("Twinkle, twinkle, little", ["dog", "because", "star", "nine"], 2),
    ("January, February,", ["table", "sing", "red", "March"], 3),
    ("A, B, C,", ["D", "house", "run", "blue"], 0),
    ("Good morning! How are", ["purple", "you", "tree", "eleven"], 1),
    ("The sun rises in the", ["east", "fork", "ninety", "jump"], 0),
    ("Thank you very", ["much", "green", "table", "seven"], 0),
    ("Once upon a", ["banana", "time", "fourteen", "quickly"], 1),
    ("Ladies and", ["gentlemen", "carrots", "sixty", "under"], 0),
    ("Happy birthday to", ["window", "you", "forty", "blue"], 1),
    ("Rock, paper,", ["scissors", "ocean", "eighty", "heavy"], 0),
    ("Ready, set,", ["go", "lamp", "ninety", "green"], 0),
    ("Peanut butter and", ["jelly", "tires", "seven", "loud"], 0),
    ("Knock knock. Who's", ["there", "purple", "engine", "fifty"], 0),
    ("The United States of", ["America", "Cheese", "Purple", "Seven"], 0),
    ("Ten, nine, eight,", ["seven", "apple", "chair", "river"], 0),
]
SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("easy_mc", data="easy.jsonl",
                 request=modeleval.Choices("{context}", lambda item: [" " + c for c in item["choices"]]))
def test_easy(item, choice):
    assert choice == item["answer"]
"""


@pytest.fixture(scope="module")
def broken_checkpoint(tmp_path_factory):
    """The embedded model's architecture and tokenizer with random-init weights, as a real checkpoint."""
    engine = embedded_engine()  # loads torch / transformers outside the pytester runs
    torch = engine.torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from pytest_modeleval.engines import hf
    from pytest_modeleval.modelref import resolve

    source = hf.model_dir(resolve("embedded"))
    target = tmp_path_factory.mktemp("checkpoints") / "step-666-diverged"
    target.mkdir()
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith(".") and path.suffix not in (".safetensors", ".bin"):
            shutil.copy(path, target / path.name)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source)).to(torch.bfloat16)
    model.save_pretrained(target, safe_serialization=True)
    del model
    assert (target / "model.safetensors").is_file()
    yield target
    # the engine keeps loaded models per process; drop this one so later tests do not carry it
    digest = resolve(str(target)).sha256
    for key in [key for key in hf._LOADED if key[0] == digest]:
        hf._LOADED.pop(key, None)


def summary_tables(page: str) -> list[list[list[str]]]:
    """Each table of a markdown page as a markdown parser renders it: rows of cell texts, the header first."""
    from markdown_it import MarkdownIt

    tables, tokens = [], MarkdownIt("commonmark").enable("table").parse(page)
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append([])
        elif token.type in ("th_open", "td_open"):
            tables[-1][-1].append("".join(child.content for child in tokens[i + 1].children if child.type == "text"))
    return tables


def gate_case(path, name: str):
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("classname") == "modeleval.gates" and case.get("name") == name:
            return case
    raise AssertionError(f"no gate testcase {name} in {path}")


def test_a_broken_checkpoint_is_blocked_and_production_passes_against_itself(pytester, broken_checkpoint, capsys,
                                                                              monkeypatch):
    rows = [{"context": context, "choices": choices, "answer": answer} for context, choices, answer in ITEMS]
    (pytester.path / "easy.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (pytester.path / "test_easy.py").write_text(SUITE)
    run = lambda *args: pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)  # noqa: E731

    production = run("--model=embedded", "--junitxml=production.xml")
    assert production.ret == 0, production.stdout.str()
    assert production.parseoutcomes().get("passed", 0) >= 18  # the embedded model knows these
    assert modeleval(["promote", "embedded", "--db", DB, "--note", "release 1"]) == 0
    assert "promoted sha256:" in capsys.readouterr().out

    # as on a GitHub Actions runner: the job summary file and the annotations (docs/ci.md)
    step_summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    broken = run(f"--model={broken_checkpoint}", "--junitxml=broken.xml")
    assert broken.ret == 10, broken.stdout.str()
    broken.stdout.fnmatch_lines(["*GATES FAILED: 1 of 1 (exit status 10)*"])
    [error] = [line for line in broken.stdout.lines if line.startswith("::")]
    assert error.startswith("::error file=test_easy.py,title=modeleval gate no-regression[easy_mc] failed::"
                            "no-regression[easy_mc]: score fell ")
    assert "%25" in error and "%" not in error.replace("%25", "")  # GitHub's escaping of the message
    page = step_summary.read_text()
    gate_table = summary_tables(page)[0]
    assert gate_table[0][-1] == "verdict" and gate_table[1][:3] == ["easy_mc", "no-regression", "score"]
    assert gate_table[1][-1] == "❌ FAIL" and gate_table[1][7].endswith(" pts")  # the delta
    assert "GATES FAILED: 1 of 1 (exit status 10)" in page and "Baseline: run 1 (production, sha256:" in page
    assert summary_tables(page)[1][1][:2] == ["easy_mc", str(sum(1 for row in summary_tables(page)[2][1:]
                                                                 if row[2:] == ["correct", "wrong"]))]
    failure = gate_case(pytester.path / "broken.xml", "no-regression[easy_mc]").find("failure")
    assert failure is not None
    assert failure.get("message").startswith("no-regression[easy_mc]: score fell")
    assert "McNemar exact" in failure.get("message") and "baseline run 1" in failure.get("message")
    [run2] = query(pytester.path / DB, "SELECT * FROM runs WHERE id = 2")
    assert run2["model_kind"] == "hf-dir" and run2["exit_status"] == 10 and run2["gate_status"] == "failed"
    [gate] = query(pytester.path / DB, "SELECT * FROM gates WHERE run_id = 2")
    assert gate["delta"] < -0.4 and gate["p_value"] < 0.01

    again = run("--model=embedded", "--junitxml=again.xml")
    assert again.ret == 0, again.stdout.str()
    # production against itself passes; on 20 items it honestly could not have seen a 1-point fall
    again.stdout.fnmatch_lines(["80 requests, 100.0% from cache*",
                                "easy_mc*no-regression*score*20*+0.0 pts*1.000*1.000*underpowered",
                                "gates passed: 1 of 1, 1 underpowered*"])
    assert not [line for line in again.stdout.lines if line.startswith("::")]  # nothing failed: no annotation
    assert step_summary.read_text().count("<!-- pytest-modeleval summary -->") == 2  # appended, as GitHub expects
    case = gate_case(pytester.path / "again.xml", "no-regression[easy_mc]")
    assert case.find("failure") is None and case.find("skipped") is None
    [gate] = query(pytester.path / DB, "SELECT * FROM gates WHERE run_id = 3")
    assert (gate["verdict"], gate["delta"], gate["baseline_run_id"]) == ("underpowered", 0.0, 1)
    assert gate["underpowered"] == 1 and gate["needed_n"] > 20 and gate["p_adjusted"] == 1.0
