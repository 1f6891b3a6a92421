"""A run's summary in markdown: the one page a CI job's summary and a pull request's comment show.

Built from plain data (the run's `gates` rows as `gates/save.py` writes them, the flipped items, a few labels),
so a session that just ended (`plugin/ci_summary.py`) and a run the results DB holds (`modeleval comment`) give
the same page. GitHub renders GitHub-flavoured markdown, so every value is escaped: an item id or a gate's
message cannot open a link, a code span, a formula or a table cell of its own. Long tables are cut with a count
of what was left out: a job summary may be at most 1 MiB and a comment 65,536 characters, and a reviewer reads
the first rows anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..gates.display import fmt, fmt_delta, fmt_detectable, fmt_p

DASHBOARD_DIR = "modeleval-dashboard"  # the directory the named `modeleval report --html` command writes
MARKER = "<!-- pytest-modeleval summary -->"  # lets a workflow find its earlier comment to replace it
GATE_ROWS = 30  # gates shown in the table (failures first); the rest are counted
MESSAGE_ROWS = 20  # failed and overridden gates' messages
FLIP_ROWS = 20  # suites in the flip counts, and flipped items listed

VERDICTS = {"fail": "❌ FAIL", "overridden": "🟡 overridden", "underpowered": "⚠️ underpowered", "pass": "✅ pass",
            "n/a": "n/a"}
_ORDER = {"fail": 0, "overridden": 1, "underpowered": 2, "pass": 3, "n/a": 4}
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!$])")  # what would start markup inside a line of GitHub markdown
_URL_UNSAFE = re.compile(r"[\s()<>\[\]]")


@dataclass(frozen=True)
class RunSummary:
    """What the page says; every text field is plain text (escaped when rendered), never markdown."""

    title: str  # "run 2: checkpoints/step-2000 (sha256:fce8d8799940)"
    status: str  # "GATES FAILED: 1 of 1 (exit status 10)"
    failed: bool  # a gate failed or the run did (errors): the page's heading says so
    baseline: str | None = None  # "run 1 (production, sha256:b179c9523d0e)"; None: the run had no baseline
    baseline_note: str = ""  # why there is none
    gates: list[dict] = field(default_factory=list)  # `gates` rows: suite, gate, metric, verdict, n, value, ...
    flips: dict[str, list] | None = None  # suite -> [[item, baseline outcome, this run's outcome]]; None: no baseline
    flips_against: str = ""  # the run the flips are against: "run 1"
    flips_scope: str = ""  # what the flips cover when not the whole run: "this shard's items"
    dashboard_url: str | None = None  # where the dashboard (or the workflow run holding it) is
    dashboard_command: str | None = None  # the command that builds it
    notes: list[str] = field(default_factory=list)  # plain lines after the tables


def render(summary: RunSummary, *, gate_rows: int = GATE_ROWS, message_rows: int = MESSAGE_ROWS,
           flip_rows: int = FLIP_ROWS) -> str:
    """The page: heading and status, the gate table, the failed gates' messages, the flipped items, the dashboard."""
    out = [MARKER, f"## {'❌' if summary.failed else '✅'} modeleval: {text(summary.title)}", "",
           f"**{text(summary.status)}**", ""]
    if summary.baseline is not None:
        out.append(f"Baseline: {text(summary.baseline)}")
    else:
        out.append("Baseline: none" + (f" ({text(summary.baseline_note)})" if summary.baseline_note else ""))
    out.append("")
    out += _gates(summary.gates, gate_rows)
    out += _messages(summary.gates, message_rows)
    out += _flips(summary, flip_rows)
    out += _dashboard(summary)
    out += [f"- {text(note)}" for note in summary.notes]
    return "\n".join(out).rstrip() + "\n"


def gate_rows(report) -> list[dict]:
    """A session's verdicts (a `gates.evaluate.GateReport`) as the `gates` rows a recorded run has: the one shape
    the page reads. Only the columns it shows (the DB's row is `gates/save.py`'s)."""
    return [{"suite": r.suite, "gate": r.rule.name, "metric": r.rule.metric, "kind": r.rule.kind,
             "verdict": r.verdict, "n": r.n, "value": r.value, "ci_lo": r.ci[0] if r.ci else None,
             "ci_hi": r.ci[1] if r.ci else None, "baseline_value": r.baseline_value, "delta": r.delta,
             "p_value": r.p_value, "p_adjusted": r.p_adjusted, "message": r.message, "override": r.override,
             "detectable": r.detectable, "underpowered": int(r.underpowered)} for r in report.results]


def verdict_line(gates: list[dict], exit_status: int | None = None, mode: str = "enforce") -> str:
    """The gates' one-line outcome, as the terminal's gates section ends (`gates/table.py`)."""
    failed = sum(g["verdict"] == "fail" for g in gates)
    total = sum(g["verdict"] != "n/a" for g in gates)
    status = "" if exit_status is None else f" (exit status {exit_status})"
    if failed:
        why = " (report mode: exit status unchanged)" if mode == "report" else status
        return f"GATES FAILED: {failed} of {total}{why}"
    if not gates:
        return f"no gates recorded{status}"
    if total == 0:
        return f"no gate applied ({len(gates)} not applicable){status}"
    extra = "".join(f", {n} {verdict}" for verdict in ("overridden", "underpowered")
                    if (n := sum(g["verdict"] == verdict for g in gates)))
    return f"gates passed: {total} of {total}{extra}{status}"


def _gates(gates: list[dict], limit: int) -> list[str]:
    if not gates:
        return ["No gate verdicts.", ""]
    ordered = sorted(gates, key=lambda g: _ORDER.get(g["verdict"], 5))
    header = ["suite", "gate", "metric", "n", "value", "95% CI", "baseline", "delta", "p adj", "detectable",
              "verdict"]
    rows = [[g["suite"], g["gate"], g["metric"], str(g["n"]) if g.get("n") else "-", *_numbers(g),
             VERDICTS.get(g["verdict"], g["verdict"]) + (" (underpowered)" if g.get("underpowered")
                                                          and g["verdict"] == "fail" else "")]
            for g in ordered]
    out = table(header, rows[:limit], right=range(3, 10)) + [""]  # a line right under a table is one of its rows
    left = ordered[limit:]
    if left:
        out.append(f"*…and {_count(len(left), 'more gate')} not shown: {_verdict_counts(left)}. `modeleval show "
                   "RUN` lists every one.*")
        out.append("")
    out.append("*95% CI: of the value for thresholds, of the delta against the baseline for regressions. p adj: "
               "over the run's regression gates.*")
    return out + [""]


def _numbers(g: dict) -> list[str]:
    """value, CI, baseline, delta, p adj and detectable as the terminal prints them."""
    values = [g.get("value"), g.get("baseline_value"), *(g.get("ci_lo"), g.get("ci_hi"))]
    regression = g.get("kind") == "regression"
    # the DB keeps no `proportion` flag: a metric whose values lie in [0, 1] is shown as a share
    proportion = all(v is None or 0 <= v <= 1 for v in values[:2]) and (regression or all(
        v is None or 0 <= v <= 1 for v in values[2:]))
    lo, hi = g.get("ci_lo"), g.get("ci_hi")
    if lo is None or hi is None:
        ci = "-"
    elif regression:
        ci = f"[{fmt_delta(lo, proportion).replace(' pts', '')}, {fmt_delta(hi, proportion).replace(' pts', '')}]"
    else:
        ci = f"[{fmt(lo, proportion)}, {fmt(hi, proportion)}]"
    delta = "-" if g.get("delta") is None else fmt_delta(g["delta"], proportion)
    p = g.get("p_adjusted") if g.get("p_adjusted") is not None else g.get("p_value")
    return [fmt(g.get("value"), proportion), ci, fmt(g.get("baseline_value"), proportion), delta, fmt_p(p),
            fmt_detectable(g.get("detectable"), proportion) if regression else "-"]


def _messages(gates: list[dict], limit: int) -> list[str]:
    shown = [g for g in sorted(gates, key=lambda g: _ORDER.get(g["verdict"], 5))
             if g["verdict"] in ("fail", "overridden")]
    if not shown:
        return []
    out = ["### Failed gates" if any(g["verdict"] == "fail" for g in shown) else "### Overridden gates", ""]
    for g in shown[:limit]:
        name = f"{text(g['gate'])}\\[{text(g['suite'])}\\]"
        line = f"- **{name}** ({text(g['verdict'])}): {text(g.get('message') or '')}"
        override = _json(g.get("override"))
        if override:
            line += (f" Overridden by {text(override.get('approver', '?'))} until {text(override.get('expires', '?'))}:"
                     f" {text(override.get('reason', ''))}")
        out.append(line)
    if len(shown) > limit:
        out.append(f"- *…and {_count(len(shown) - limit, 'more')} not shown*")
    return out + [""]


def _flips(summary: RunSummary, limit: int) -> list[str]:
    flips = summary.flips
    if flips is None:
        return []
    scope = f", {text(summary.flips_scope)}" if summary.flips_scope else ""
    out = [f"### Items that flipped against {text(summary.flips_against or 'the baseline')}{scope}", ""]
    counts = []
    for suite, items in flips.items():
        to_wrong = sum(1 for item in items if item[1] == "correct")
        counts.append((suite, to_wrong, len(items) - to_wrong))
    counts = [c for c in counts if c[1] or c[2]]
    if not counts:
        return out + ["No item is right in one run and wrong in the other.", ""]
    counts.sort(key=lambda c: (-c[1], -c[2], c[0]))  # the suites that lost most first
    out += table(["suite", "right → wrong", "wrong → right"], [[s, str(w), str(r)] for s, w, r in counts[:limit]],
                 right=(1, 2)) + [""]
    if len(counts) > limit:
        rest = counts[limit:]
        out.append(f"*…and {_count(len(rest), 'more suite')} not shown ({sum(c[1] for c in rest)} right → wrong, "
                   f"{sum(c[2] for c in rest)} wrong → right).*")
        out.append("")
    rank = {suite: i for i, (suite, _, _) in enumerate(counts)}
    items = sorted(((suite, *item) for suite, listed in flips.items() for item in listed),
                   key=lambda f: (f[2] != "correct", rank.get(f[0], len(rank)), f[1]))  # right -> wrong first
    out += table(["suite", "item", "baseline", "this run"], [list(f) for f in items[:limit]]) + [""]
    if len(items) > limit:
        rest_items = items[limit:]
        to_wrong = sum(1 for f in rest_items if f[2] == "correct")
        out.append(f"*…and {_count(len(rest_items), 'more flipped item')} not shown ({to_wrong} right → wrong, "
                   f"{len(rest_items) - to_wrong} wrong → right); the dashboard's compare page lists every one.*")
    return out + [""]


def _dashboard(summary: RunSummary) -> list[str]:
    parts = []
    if summary.dashboard_url:
        parts.append(f"[{text(summary.dashboard_url)}]({url(summary.dashboard_url)})")
    if summary.dashboard_command:
        parts.append(("or build it with " if parts else "build it with ") + code(summary.dashboard_command))
    return [f"- Dashboard: {'; '.join(parts)}"] if parts else []


def table(header: list[str], rows: list[list[str]], right=()) -> list[str]:
    """A GitHub-flavoured markdown table, every cell escaped; `right`: the columns aligned right (numbers)."""
    right = set(right)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    return [_row(header), "|" + "|".join(align) + "|", *(_row(r) for r in rows)]


def _row(cells) -> str:
    return "| " + " | ".join(text(c) for c in cells) + " |"


def text(value) -> str:
    """Plain text as markdown that renders as that text: on one line, `&` and every markup character escaped
    (`|` too, so that a cell stays one cell)."""
    one_line = " ".join(str(value).split())  # CR, LF and tabs: a table row and a list item are one line
    return _SPECIAL.sub(r"\\\1", one_line.replace("&", "&amp;"))


def code(value: str) -> str:
    """A code span that holds `value` as it is, backticks included (a longer fence, CommonMark's rule)."""
    value = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def url(value: str) -> str:
    """A link destination: the characters that would end or break it percent-encoded."""
    return _URL_UNSAFE.sub(lambda m: "%{:02X}".format(ord(m.group())), value)


def _verdict_counts(gates: list[dict]) -> str:
    counts: dict[str, int] = {}
    for g in gates:
        counts[g["verdict"]] = counts.get(g["verdict"], 0) + 1
    return ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 5)))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 and not noun.endswith('more') else ''}"


def _json(value):
    if not value:
        return None
    return value if isinstance(value, dict) else json.loads(value)
