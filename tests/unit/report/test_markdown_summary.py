"""The run's markdown summary (report/markdown.py) and GitHub's annotations (report/annotations.py) from plain
data: what a markdown parser renders, long tables cut with a count, escaping, a run without a baseline."""

from __future__ import annotations

from markdown_it import MarkdownIt

from pytest_modeleval.report.annotations import annotation, escape_data, escape_property, workflow_run_url
from pytest_modeleval.report.markdown import RunSummary, code, render, text, verdict_line

FAILED = {"suite": "easy_mc", "gate": "no-regression", "metric": "score", "kind": "regression", "verdict": "fail",
          "n": 20, "value": 0.2, "ci_lo": -0.95, "ci_hi": -0.6, "baseline_value": 1.0, "delta": -0.8,
          "p_value": 3.1e-05, "p_adjusted": 3.1e-05, "detectable": 0.554, "underpowered": 0,
          "message": "score fell 80.0 pts against baseline run 1 (100.0% -> 20.0% on 20 paired items)"}
PASSED = {**FAILED, "suite": "qa", "verdict": "pass", "value": 0.9, "baseline_value": 0.9, "delta": 0.0,
          "ci_lo": -0.05, "ci_hi": 0.05, "p_value": 1.0, "p_adjusted": 1.0, "message": "ok"}


def parse(page: str) -> list:
    return MarkdownIt("commonmark").enable("table").parse(page)


def cells(page: str, kind: str = "td") -> list[list[str]]:
    """The rendered table rows as the reader sees them: each cell's text, after markdown is undone."""
    rows, row, tokens = [], None, parse(page)
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type == f"{kind}_open":
            row.append("".join(child.content for child in tokens[i + 1].children if child.type in ("text", "code_inline")))
        elif token.type == "tr_close" and row:
            rows.append(row)
    return rows


def summary(**changes) -> RunSummary:
    fields = dict(title="run 2: checkpoints/step-2000 (sha256:fce8d8799940)", status="GATES FAILED: 1 of 2 "
                  "(exit status 10)", failed=True, baseline="run 1 (production, sha256:b179c9523d0e)",
                  gates=[PASSED, FAILED], flips={"easy_mc": [["easy_mc-0001-p0", "correct", "wrong"],
                                                            ["easy_mc-0002-p0", "wrong", "correct"]]},
                  flips_against="run 1", dashboard_command="modeleval report --html modeleval-dashboard",
                  dashboard_url="https://github.com/o/r/actions/runs/7")
    return RunSummary(**{**fields, **changes})


def test_the_page_renders_the_gate_table_failures_first_with_deltas_and_intervals():
    page = render(summary())
    tokens = parse(page)
    assert sum(t.type == "table_open" for t in tokens) == 3  # gates, flip counts, flipped items
    assert cells(page, "th")[0] == ["suite", "gate", "metric", "n", "value", "95% CI", "baseline", "delta", "p adj",
                                    "detectable", "verdict"]
    gate_rows = cells(page)[:2]
    assert gate_rows[0] == ["easy_mc", "no-regression", "score", "20", "20.0%", "[-95.0, -60.0]", "100.0%",
                            "-80.0 pts", "3.1e-05", "55.4 pts", "❌ FAIL"]
    assert gate_rows[1][0] == "qa" and gate_rows[1][-1] == "✅ pass"
    assert "**GATES FAILED: 1 of 2 (exit status 10)**" in page
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<strong>no-regression[easy_mc]</strong> (fail): score fell 80.0 pts" in html
    assert "100.0% -&gt; 20.0%" in html  # the message's arrow is text, not a tag
    assert '<a href="https://github.com/o/r/actions/runs/7">' in html
    assert "<code>modeleval report --html modeleval-dashboard</code>" in html


def test_flipped_items_right_to_wrong_first_with_counts_per_suite():
    page = render(summary())
    rows = cells(page)
    assert ["easy_mc", "1", "1"] in rows  # suite, right -> wrong, wrong -> right
    flipped = [r for r in rows if len(r) == 4]
    assert flipped == [["easy_mc", "easy_mc-0001-p0", "correct", "wrong"],
                       ["easy_mc", "easy_mc-0002-p0", "wrong", "correct"]]
    assert "Items that flipped against run 1" in page


def test_long_tables_are_cut_with_a_count_of_what_was_left_out():
    gates = [FAILED] + [{**PASSED, "suite": f"s{i:02d}"} for i in range(40)] + [{**PASSED, "suite": "z", "verdict": "n/a"}]
    flips = {f"s{i:02d}": [[f"s{i:02d}-{j}", "correct", "wrong"] for j in range(3)] for i in range(30)}
    page = render(summary(gates=gates, flips=flips), gate_rows=10, flip_rows=5)
    assert "…and 32 more gates not shown: 31 pass, 1 n/a." in page
    assert "…and 25 more suites not shown (75 right → wrong, 0 wrong → right)." in page
    assert "…and 85 more flipped items not shown (85 right → wrong, 0 wrong → right)" in page
    assert len([r for r in cells(page) if len(r) == 11]) == 10  # the gate table holds 10 rows
    assert cells(page)[0][-1] == "❌ FAIL"  # the failure is never the row that is cut


def test_values_are_escaped_so_they_render_as_written():
    nasty = "a|b *c* _d_ `e` [f](g) <script>h</script> $x$ &amp; line\nbreak"
    page = render(summary(gates=[{**FAILED, "suite": nasty, "message": nasty}], flips=None))
    first = cells(page)[0]
    assert len(first) == 11  # the `|` did not open a cell of its own
    assert first[0] == "a|b *c* _d_ `e` [f](g) <script>h</script> $x$ &amp; line break"
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<script>" not in html and "<a href" not in html.split("Dashboard")[0]
    assert "(fail): a|b *c* _d_ `e` [f](g) &lt;script&gt;h&lt;/script&gt; $x$ &amp;amp; line break</p>" in html
    assert text("x\r\ny") == "x y"
    assert code("a `b` c") == "``a `b` c``"


def test_a_run_without_a_baseline_says_why_and_lists_no_flips():
    page = render(summary(baseline=None, baseline_note="nothing is promoted to channel 'production' yet",
                          flips=None, gates=[{**PASSED, "verdict": "n/a", "delta": None}], failed=False,
                          status="no gate applied (1 not applicable)", dashboard_url=None))
    assert "Baseline: none (nothing is promoted to channel 'production' yet)" in page
    assert "flipped" not in page and page.startswith("<!-- pytest-modeleval summary -->\n## ✅ modeleval:")
    assert "- Dashboard: build it with `modeleval report --html modeleval-dashboard`" in page


def test_the_verdict_line():
    assert verdict_line([FAILED, PASSED], 10) == "GATES FAILED: 1 of 2 (exit status 10)"
    assert verdict_line([FAILED], 0, mode="report") == "GATES FAILED: 1 of 1 (report mode: exit status unchanged)"
    assert verdict_line([PASSED], 0) == "gates passed: 1 of 1 (exit status 0)"
    weak = [PASSED, {**PASSED, "verdict": "underpowered"}]
    assert verdict_line(weak) == "gates passed: 2 of 2, 1 underpowered"
    assert verdict_line([], 1) == "no gates recorded (exit status 1)"


def test_annotations_escape_as_the_workflow_command_docs_say():
    line = annotation("error", "fell 80%\r\nnext", file="evals/test_a,b.py", title="gate x[y]: failed")
    assert line == "::error file=evals/test_a%2Cb.py,title=gate x[y]%3A failed::fell 80%25%0D%0Anext"
    assert escape_data("100%") == "100%25" and escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert annotation("warning", "m") == "::warning::m"
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert workflow_run_url(env) == "https://github.com/o/r/actions/runs/7" and workflow_run_url({}) is None
