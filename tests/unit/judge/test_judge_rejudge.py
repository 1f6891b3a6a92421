"""Judge-consistent baselines, end to end with the embedded model as the judge under three templates
(three judges, as far as the gates are concerned: the same weights with another rubric are another judge).

Run 1 is judged with the default template and promoted. Run 2 judges with another rubric: the baseline's
stored answers are judged again by run 2's judge, in the same batched rounds, recorded against run 1, and
the win-rate regression gate compares the two runs under that judge; the engine computes only the new
judge's verdicts (no candidate answer again, nothing of the old judge). Run 3 with the same judge pays
nothing. Run 4 with a third rubric, after the baseline's answers are gone, is n/a naming both judges.
On both backends: a SQLite file and a PostgreSQL server named by URL (the re-judging once looked for the
URL as a file and was silently off there).
"""

from __future__ import annotations

import pytest

from evalkit import computed_prompts, engine_calls, execute, one_thread_engine, query, run, setup_suite
from pytest_modeleval.cli import main as modeleval
from pytest_modeleval.judge import templates

ROWS = [
    {"id": "h0", "prompt": "What is the capital of Australia?", "reference": "Canberra."},
    {"id": "h1", "prompt": "How many days are in a leap year?", "reference": "366 days."},
    {"id": "h2", "prompt": "What do bees make?", "reference": "Honey."},
    {"id": "h3", "prompt": "What is 2 + 2?", "reference": "4"},
]
SUITE = """
@modeleval.suite("help", data="gen.jsonl", id_field="id", chat=True,
                 request=modeleval.Pairwise("{{prompt}}", reference="{{reference}}", reasoning=False,
                                            rubric={rubric!r}, max_tokens=16, judge_max_tokens=6))
def test_help(item, judgment):
    assert judgment.outcome != "loss"
"""
GATES = """
[tool.modeleval.gates.win-regression]
metric = "win_rate"
margin = 0.05
"""
JUDGE = ("--judge=embedded", "--judge-allow-self")
SECOND = "Prefer the answer that is more accurate."
THIRD = "Prefer the answer that is shorter and correct."


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def gates(db, run_id):
    return {row["gate"]: row for row in query(db, "SELECT * FROM gates WHERE run_id = ?", run_id)}


def test_a_baseline_judged_by_another_judge_is_judged_again_once(pytester, engine, results_db, monkeypatch):
    setup_suite(pytester, SUITE.format(rubric=None), ROWS)
    (pytester.path / "pyproject.toml").write_text(GATES)
    db = results_db
    monkeypatch.setenv("MODELEVAL_DB", str(db))  # the runs and `modeleval` alike
    run(pytester, *JUDGE)
    assert modeleval(["promote", "embedded", "--db", str(db)]) == 0
    first = templates.pairwise(reasoning=False).sha256
    assert {r["template_sha256"] for r in query(db, "SELECT * FROM judgments WHERE run_id = 1")} == {first}
    # mark the baseline's stored answers: its re-judging must read them, not this run's answers
    execute(db, "UPDATE judgments SET candidate = 'BASELINE ' || candidate WHERE run_id = 1")
    engine_calls(pytester, kind=None)

    setup_suite(pytester, SUITE.format(rubric=SECOND), counting=False)
    result = run(pytester, *JUDGE)
    second = templates.pairwise(SECOND, reasoning=False).sha256
    calls = engine_calls(pytester, kind=None)
    prompts = computed_prompts(calls)
    # only the new judge's verdicts were computed: candidates came from the cache, the old judge asked nothing
    assert {c["kind"] for c in calls} == {"generate"}
    assert all(SECOND in p for p in prompts), prompts
    assert len({p for p in prompts if "BASELINE" in p}) == len(ROWS)  # the baseline's answers, once each
    assert len({p for p in prompts if "BASELINE" not in p}) == len(ROWS)  # this run's answers
    assert len([c for c in calls if any("BASELINE" in p for p in c["prompts"])]) == len(
        [c for c in calls if any("BASELINE" not in p for p in c["prompts"])])  # in the same batched rounds

    again = query(db, "SELECT * FROM rejudgments ORDER BY test_id")
    assert len(again) == len(ROWS)
    assert {(r["run_id"], r["judged_in_run_id"], r["template_sha256"]) for r in again} == {(1, 2, second)}
    assert all(r["candidate"].startswith("BASELINE ") for r in again)
    assert all((r["error"] is None) == (r["win_value"] is not None) for r in again)
    verdicts = gates(db, 2)
    assert "re-judged (4 items; its own judge was" in verdicts["win-regression"]["message"]
    assert second[:12] in verdicts["win-regression"]["message"] and first[:12] in verdicts["win-regression"]["message"]
    # the pass rate comes from the test's assertion on each judge's verdicts: not comparable across judges
    assert verdicts["no-regression"]["verdict"] == "n/a"
    assert "cannot be recomputed for the baseline" in verdicts["no-regression"]["message"]
    assert "its stored answers were judged again by this run's judge" in result.stdout.str()
    # `modeleval gate` on the recorded run reads the recorded re-judgments: the same comparison
    assert modeleval(["gate", "2", "--db", str(db)]) == 0  # the unvalidated judge decides no gate there either
    assert gates(db, 2)["win-regression"]["message"] == verdicts["win-regression"]["message"]

    # the same judge again: everything from the cache, the recorded re-judgments reused
    run(pytester, *JUDGE)
    assert engine_calls(pytester, kind=None) == []
    assert "re-judged (4 items" in gates(db, 3)["win-regression"]["message"]
    assert len(query(db, "SELECT * FROM rejudgments")) == len(ROWS)

    # a third judge, and the baseline's answers are no longer stored: n/a, naming both judges
    execute(db, "UPDATE judgments SET candidate = NULL WHERE run_id = 1")
    setup_suite(pytester, SUITE.format(rubric=THIRD), counting=False)
    run(pytester, *JUDGE)
    third = templates.pairwise(THIRD, reasoning=False).sha256
    assert not any("BASELINE" in p for p in computed_prompts(engine_calls(pytester, kind=None)))
    gate = gates(db, 4)["win-regression"]
    assert gate["verdict"] == "n/a" and "the baseline's answers are not stored" in gate["message"]
    assert first[:12] in gate["message"] and third[:12] in gate["message"]
