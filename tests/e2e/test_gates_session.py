"""The gates in real pytest sessions (pytester): the summary table, the exit status, JUnit XML
testcases (parsed), the results DB, pytest-xdist, overrides in git, and configuration errors.

The suites here never call the model (an item is right when its `answer` is 42), so every run
takes a fraction of a second; what changes between runs is the data, evaluated under the same
`--model=embedded`, and the baseline is named with --baseline or promoted with `modeleval promote`.
The real-model check (a broken checkpoint blocked against the promoted embedded model) is in
tests/e2e/test_gates_e2e.py.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import pytest

from evalkit import query
from pytest_modeleval.cli import main as modeleval

DB = ".modeleval/results.sqlite"
SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("demo", data="data.jsonl")
def test_demo(item, record_metric):
    if "win" in item:
        record_metric("win_rate", item["win"])
    if item.get("boom"):
        raise RuntimeError("grader crashed")
    assert item["answer"] == 42
"""


def write(pytester, right: int, wrong: int = 0, *, win=None, boom: int = 0) -> None:
    """The suite with `right` correct items first, then `wrong` wrong ones (item ids stay aligned)."""
    rows = [{"answer": 42} for _ in range(right)] + [{"answer": 41} for _ in range(wrong)]
    for i, row in enumerate(rows):
        if win is not None:
            row["win"] = win[i]
        if i < boom:
            row["boom"] = True
    (pytester.path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (pytester.path / "test_demo.py").write_text(SUITE)


def lit(pattern: str) -> str:
    """An fnmatch pattern whose brackets are literal (gate names have them); `*` stays a wildcard."""
    return re.sub(r"([\[\]])", r"[\1]", pattern)


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", *args)


def gate_cases(path) -> dict:
    """name -> (kind of result element or 'passed', its message, properties) for the gate testcases."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("classname") != "modeleval.gates":
            continue
        result = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cases[case.get("name")] = (result.tag if result is not None else "passed",
                                   result.get("message") if result is not None else None, props)
    return cases


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_first_run_then_a_regression_against_production_then_production_again(pytester, capsys, backend, request):
    db, extra = pytester.path / DB, ()
    if backend == "postgresql":  # the same session on a PostgreSQL results DB
        db = request.getfixturevalue("postgres_url")
        extra = (f"--eval-db={db}",)
    write(pytester, 20)
    first = run(pytester, *extra, "--junitxml=first.xml")
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines(["*= modeleval gates =*", "baseline: none (the results database is new)",
                                "demo*no-regression*score*n/a", "no gate applied (1 not applicable)"])
    assert gate_cases(pytester.path / "first.xml")["no-regression[demo]"][0] == "skipped"

    assert modeleval(["promote", "embedded", "--db", str(db)]) == 0
    assert "to production" in capsys.readouterr().out

    write(pytester, 8, 12)  # the same 20 items, 12 of them now wrong
    worse = run(pytester, *extra, "--junitxml=worse.xml")
    assert worse.ret == 10, worse.stdout.str()
    worse.stdout.fnmatch_lines([
        "baseline: run 1 (production, sha256:*)",
        "demo*no-regression*score*20*40.0%*100.0%*-60.0 pts*FAIL",
        lit("FAIL no-regression[demo]: score fell 60.0 pts against baseline run 1 (100.0% -> 40.0% on 20 paired "
        "items): more than the 1-point margin, and significant (McNemar exact p=*"),
        "GATES FAILED: 1 of 1 (exit status 10)",
    ])
    kind, message, props = gate_cases(pytester.path / "worse.xml")["no-regression[demo]"]
    assert kind == "failure" and message.startswith("no-regression[demo]: score fell 60.0 pts")
    assert props["modeleval_verdict"] == "fail" and props["modeleval_baseline_run"] == "1"
    suite = ET.parse(pytester.path / "worse.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1" and suite.get("tests") == "21"

    [row] = query(db, "SELECT * FROM runs WHERE id = 2")
    assert (row["exit_status"], row["gate_status"], row["gates_failed"], row["baseline_run_id"]) == (10, "failed", 1, 1)
    [gate] = query(db, "SELECT * FROM gates WHERE run_id = 2")
    assert (gate["gate"], gate["verdict"], gate["n"], gate["test"]) == ("no-regression", "fail", 20, "McNemar exact")
    assert gate["delta"] == pytest.approx(-0.6) and gate["p_value"] < 0.001

    # the embedded model's last run failed its gates: promotion is refused
    assert modeleval(["promote", "embedded", "--db", str(db)]) == 1
    assert "refusing" in capsys.readouterr().err

    write(pytester, 20)
    again = run(pytester, *extra, "--junitxml=again.xml")
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(["demo*no-regression*score*20*100.0%*100.0%*+0.0 pts*1.000*1.000*underpowered",
                                "underpowered no-regression[[]demo[]]:*needs about 783 paired items",
                                "gates passed: 1 of 1, 1 underpowered*"])
    kind, _, props = gate_cases(pytester.path / "again.xml")["no-regression[demo]"]
    assert kind == "passed" and props["modeleval_verdict"] == "underpowered"
    assert (props["modeleval_p_adjusted"], props["modeleval_correction"]) == ("1.000", "holm over 1")
    assert props["modeleval_detectable"] == "36.6 pts" and props["modeleval_needed_n"] == "783"
    # the exit-status policy: underpowered = "fail" blocks the same run (exit status 10, a JUnit failure)
    pytester.makefile(".toml", pyproject='[tool.modeleval.gates]\nunderpowered = "fail"\n')
    strict = run(pytester, *extra, "--junitxml=strict.xml")
    assert strict.ret == 10, strict.stdout.str()
    strict.stdout.fnmatch_lines(["demo*no-regression*36.6 pts*FAIL (underpowered)",
                                 "GATES FAILED: 1 of 1 (exit status 10)"])
    kind, message, _ = gate_cases(pytester.path / "strict.xml")["no-regression[demo]"]
    assert kind == "failure" and 'underpowered = "fail" blocks it' in message


def test_xdist_controller_gates_the_run(pytester):
    """Under -n 2 the controller gates what the workers report: the same verdicts, JUnit and exit status."""
    pytest.importorskip("xdist")
    write(pytester, 20, win=[1] * 20)
    assert run(pytester).ret == 0
    write(pytester, 8, 12, win=[1] * 8 + [0] * 12)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--model=embedded",
                                           "--baseline=run:1", "--junitxml=x.xml", timeout=300)
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["*GATES FAILED: 2 of 2 (exit status 10)*"])
    cases = gate_cases(pytester.path / "x.xml")
    assert {name: case[0] for name, case in cases.items()} == {"no-regression[demo]": "failure",
                                                              "win-rate[demo]": "failure"}
    assert "win_rate 40.0% is below the minimum 50.0%" in cases["win-rate[demo]"][1]
    [row] = query(pytester.path / DB, "SELECT exit_status, gates_failed FROM runs WHERE id = 2")
    assert row == {"exit_status": 10, "gates_failed": 2}


def test_report_mode_keeps_the_exit_status_and_off_skips_the_gates(pytester):
    write(pytester, 10)
    assert run(pytester).ret == 0
    write(pytester, 0, 10)
    reported = run(pytester, "--baseline=run:1", "--eval-gate-mode=report", "--junitxml=r.xml")
    assert reported.ret == 0
    reported.stdout.fnmatch_lines(["GATES FAILED: 1 of 1 (report mode: exit status unchanged)"])
    assert gate_cases(pytester.path / "r.xml")["no-regression[demo]"][0] == "failure"
    off = run(pytester, "--baseline=run:1", "--eval-gate-mode=off")
    assert off.ret == 0 and "modeleval gates" not in off.stdout.str()
    rows = query(pytester.path / DB, "SELECT id, gate_status FROM runs ORDER BY id")
    assert [r["gate_status"] for r in rows] == ["passed", "failed", None]
    assert query(pytester.path / DB, "SELECT COUNT(*) AS n FROM gates WHERE run_id = 3") == [{"n": 0}]


def test_errors_keep_exit_status_1_and_the_gates_are_still_recorded(pytester):
    write(pytester, 10)
    assert run(pytester).ret == 0
    write(pytester, 0, 10, boom=2)
    result = run(pytester, "--baseline=run:1")
    assert result.ret == 1
    result.stdout.fnmatch_lines([lit("unpaired no-regression[demo]: 2 baseline items have no value in this run "
                                     "(demo-0000-p0, demo-0001-p0)"),
                                 "GATES FAILED: 1 of 1 (exit status 1: failed tests or errors come first)"])
    [row] = query(pytester.path / DB, "SELECT exit_status, gate_status FROM runs WHERE id = 2")
    assert row == {"exit_status": 1, "gate_status": "failed"}


def test_a_failure_to_compute_the_gates_is_exit_status_3_not_a_pass(pytester, monkeypatch):
    from pytest_modeleval.gates import evaluate

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated")

    monkeypatch.setattr(evaluate, "evaluate", broken)
    write(pytester, 2)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["the gates could not be computed (exit status 3):", "*ZeroDivisionError: simulated"])
    [row] = query(pytester.path / DB, "SELECT exit_status, gate_status, ended_at FROM runs")
    assert row["exit_status"] == 3 and row["gate_status"] is None and row["ended_at"]


def git(directory, *args) -> None:
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin",
                        "HOME": str(directory)})


def test_a_committed_override_lets_the_gate_pass_and_is_recorded(pytester, capsys):
    from pytest_modeleval.modelref import resolve

    model_hash = resolve("embedded").sha256
    write(pytester, 10)
    assert run(pytester).ret == 0
    assert modeleval(["promote", "embedded", "--db", DB]) == 0
    write(pytester, 0, 10)
    overrides = pytester.path / "modeleval-overrides.toml"
    overrides.write_text(textwrap.dedent(f"""
        [[override]]
        model = "sha256:{model_hash[:16]}"
        gate = "no-regression"
        suite = "demo"
        reason = "demo answers changed on purpose"
        approver = "jane"
        expires = 2999-12-31
    """))
    (pytester.path / ".gitignore").write_text(".modeleval/\n*.xml\n")
    git(pytester.path, "init", "-q")
    ignored = run(pytester)  # not committed yet: read, checked, ignored, and said so
    assert ignored.ret == 10
    ignored.stdout.fnmatch_lines(["overrides IGNORED: modeleval-overrides.toml has 1 override(s) but it is not "
                                  "committed to git (not in HEAD); commit it to apply them"])
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-q", "-m", "suites and override")
    honoured = run(pytester, "--junitxml=o.xml")
    assert honoured.ret == 0, honoured.stdout.str()
    honoured.stdout.fnmatch_lines(["demo*no-regression*overridden",
                                   "  overridden by jane until 2999-12-31: demo answers changed on purpose",
                                   "gates passed: 1 of 1, 1 by override"])
    kind, _, props = gate_cases(pytester.path / "o.xml")["no-regression[demo]"]
    assert kind == "passed" and props["modeleval_verdict"] == "overridden"
    assert props["modeleval_override_approver"] == "jane"
    [row] = query(pytester.path / DB, "SELECT gate_status, overrides FROM runs WHERE id = 3")
    recorded = json.loads(row["overrides"])
    assert row["gate_status"] == "overridden" and recorded["status"] == "honoured"
    assert [o["reason"] for o in recorded["applied"]] == ["demo answers changed on purpose"]
    # run 2 failed, but the override covers it: promotion of its checkpoint is allowed (and says why)
    assert modeleval(["promote", "embedded", "--db", DB, "--channel", "staging"]) == 0
    capsys.readouterr()
    overrides.write_text(overrides.read_text().replace("jane", "mallory"))
    tampered = run(pytester)
    assert tampered.ret == 10
    tampered.stdout.fnmatch_lines(["*it has uncommitted changes*"])


@pytest.mark.parametrize(("pyproject", "args", "expected"), [
    ("[tool.modeleval.gates.no-regression]\nmargn = 0.1\n", (),
     "*pyproject.toml [[]tool.modeleval.gates.no-regression[]]: unknown key 'margn'*"),
    ("", ("--baseline=run:7",), "*--baseline run:7: there is no run 7 in the results database*"),
    ("", ("--baseline=yesterday",), "*invalid value for --baseline: 'yesterday'*"),
    ("", ("--eval-gate-mode=strict",), "*invalid value for --eval-gate-mode: 'strict'*"),
])
def test_bad_gate_settings_are_usage_errors_before_any_run_is_recorded(pytester, pyproject, args, expected):
    write(pytester, 2)
    assert run(pytester).ret == 0
    (pytester.path / "pyproject.toml").write_text(pyproject)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stderr.lines + result.stdout.lines
    assert any(fnmatch.fnmatch(line, expected) for line in output), "\n".join(output)
    assert len(query(pytester.path / DB, "SELECT id FROM runs")) == 1


def test_bad_overrides_file_is_a_usage_error(pytester):
    write(pytester, 2)
    (pytester.path / "modeleval-overrides.toml").write_text("[[override]]\nmodel = 'sha256:abc'\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "modeleval-overrides.toml: [[override]] #1: missing gate, reason, approver, expires" in result.stderr.str()
