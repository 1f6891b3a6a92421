"""`modeleval runs | show RUN | compare RUN_A RUN_B | history`: read the results DB without writing SQL."""

from __future__ import annotations

import json

from ..results import gating
from ..results import runs as stored_runs
from ..util.text import pct
from .common import add_db_argument, command, open_store, project, run_id


def add_parser(sub) -> None:
    runs = sub.add_parser("runs", help="list the runs in the results database, newest first")
    runs.add_argument("--model", help="only runs of this model (sha256:<prefix>)")
    runs.add_argument("--last", type=int, default=20, help="how many runs (default 20; 0 for all)")
    add_db_argument(runs)
    runs.set_defaults(run=list_runs)

    show = sub.add_parser("show", help="one run: its record, suites, metrics and gate verdicts")
    show.add_argument("run_ref", metavar="RUN", help="N, run:N, latest or sha256:<prefix> (that model's newest run)")
    add_db_argument(show)
    show.set_defaults(run=show_run)

    compare = sub.add_parser("compare", help="paired comparison of two runs, suite by suite (B - A)")
    compare.add_argument("run_a", help="the reference run")
    compare.add_argument("run_b", help="the run compared with it")
    compare.add_argument("--metric", action="append", help="metrics to compare (default: score and every "
                                                           "metric both runs record)")
    add_db_argument(compare)
    compare.set_defaults(run=compare_runs)

    history = sub.add_parser("history", help="a metric over checkpoints: one row per checkpoint, one column per suite")
    history.add_argument("--metric", default="score", help="metric to follow (default score); `cs` follows the "
                                                            "contamination score of perturbed suites")
    history.add_argument("--suite", action="append", help="only these suites (repeatable)")
    history.add_argument("--last", type=int, default=20, help="how many checkpoints (default 20; 0 for all)")
    add_db_argument(history)
    history.set_defaults(run=show_history)


@command("runs")
def list_runs(args) -> int:
    from ..util.text import aligned

    store = open_store(args)
    db = store.db
    model_hash = None
    if args.model:
        from ..gates.baseline import model_hash_for

        model_hash = model_hash_for(db, args.model, "--model")
    rows = stored_runs.listing(db, model_hash=model_hash, last=args.last)
    marks = gating.channels_by_run(db)
    table = [(str(r["id"]), (r["started_at"] or "")[:19].replace("T", " "), r["model_ref"] or "-",
              (r["model_hash"] or "")[:12], str(r["suites"]), str(r["n"] or 0), pct(r["score"]),
              str(r["errors"] or 0), _gates(r), "-" if r["exit_status"] is None else str(r["exit_status"]),
              ", ".join(marks.get(r["id"], [])))
             for r in rows]
    store.close()
    if not table:
        print("no runs")
        return 0
    for line in aligned(("run", "started (UTC)", "model", "sha256", "suites", "n", "score", "errors", "gates",
                         "exit", "promoted"), table, left=4):
        print(line)
    return 0


@command("show")
def show_run(args) -> int:
    from ..gates.display import fmt_p
    from ..results.summary import format_metrics, format_table, tally
    from ..util.text import aligned

    store = open_store(args)
    db = store.db
    rid = run_id(db, args.run_ref)
    run = stored_runs.run(db, rid)
    rows = store.outcomes(rid)
    print(f"run {rid}: {run['started_at']} -> {run['ended_at'] or 'not finished'}, exit status "
          f"{run['exit_status'] if run['exit_status'] is not None else '-'}")
    print(f"model {run['model_ref']} sha256:{run['model_hash']} ({run['model_kind']})")
    facts = []
    if run.get("engine"):
        facts.append(f"engine {run['engine']} {run.get('engine_version') or ''}".rstrip())
    if run.get("git_commit"):
        facts.append(f"git {run['git_commit'][:12]}" + (" (dirty)" if run.get("git_dirty") else ""))
    if run.get("seed") is not None:
        facts.append(f"seed {run['seed']}")
    if facts:
        print("; ".join(facts))
    if run.get("command"):
        print(f"command: {run['command']}")
    promoted = [f"{p['channel']} (promotion {p['id']}, {p['promoted_at']}, by {p['by']})"
                for p in gating.promotions_of(db, rid)]
    if promoted:
        print("promoted to " + "; ".join(promoted))
    tallies = tally(rows)
    for row in rows:
        if row.get("metrics"):
            tallies[row["suite"]].add_metrics(json.loads(row["metrics"]))
    print()
    for line in format_table(tallies) + format_metrics(tallies):
        print(line)
    gates = gating.gates_of(db, rid)
    print()
    if not gates:
        print("gates: none recorded (no outcomes, gates off, or an interrupted run)")
    else:
        baseline = f"baseline run {run['baseline_run_id']}" if run.get("baseline_run_id") else "no baseline"
        print(f"gates: {run.get('gate_status')} ({run.get('gates_failed') or 0} failed), {baseline}")
        table = [(g["suite"], g["gate"], g["metric"], str(g["n"] or "-"), _value(g["value"]), _value(g["baseline_value"]),
                  _delta(g), fmt_p(g["p_value"]),
                  g["verdict"] if g["verdict"] != "fail" else "FAIL") for g in gates]
        for line in aligned(("suite", "gate", "metric", "n", "value", "baseline", "delta", "p", "verdict"),
                            table, left=3):
            print(line)
        for g in gates:
            if g["verdict"] in ("fail", "overridden", "n/a"):
                print(f"{g['verdict']} {g['gate']}[{g['suite']}]: {g['message']}")
    info = json.loads(run["overrides"]) if run.get("overrides") else None
    if info and info["status"] != "absent":
        print(f"overrides file {info['file']}: {info['status']}, {info['entries']} entries")
        for o in info.get("applied", []):
            print(f"  applied: {o['gate']} {o.get('suite') or '(all suites)'} for {o['model'][:19]}, approved by "
                  f"{o['approver']} until {o['expires']}: {o['reason']}")
    store.close()
    return 0


@command("compare")
def compare_runs(args) -> int:
    from ..gates import rules as gate_rules
    from ..gates.comparison import NO_COMMON, NOT_RECORDED, ONLY_IN, RunItems, compare_runs
    from ..gates.display import fmt, fmt_delta, fmt_p
    from ..util.text import aligned

    store = open_store(args)
    db = store.db
    a_id, b_id = run_id(db, args.run_a), run_id(db, args.run_b)
    a, b = RunItems.read(db, a_id), RunItems.read(db, b_id)
    store.close()
    # the comparisons are one family, as a run's regression gates are: the gates' correction adjusts them
    result = compare_runs(a, b, metrics=args.metric, correction=gate_rules.from_project(project()).correction)
    table, notes = [], []
    for row in result.rows:
        if row.missing == ONLY_IN:
            notes.append(f"{row.suite}: only in run {b_id if row.missing_in == a_id else a_id}")
            continue
        if row.missing == NOT_RECORDED:
            notes.append(f"{row.suite}: {row.metric} is not recorded by run {row.missing_in}")
            continue
        if row.missing == NO_COMMON:
            notes.append(f"{row.suite}: no items in common")
            continue
        if row.paired is None:  # UNANSWERED: reported once per suite
            note = f"{row.suite}: no answered items in run {row.missing_in}"
            if note not in notes:
                notes.append(note)
            continue
        cmp = row.paired
        ci = "-" if cmp.ci is None else (f"[{fmt_delta(cmp.ci[0], cmp.proportion).replace(' pts', '')}, "
                                        f"{fmt_delta(cmp.ci[1], cmp.proportion).replace(' pts', '')}]")
        table.append([row.suite, row.metric, str(cmp.n), fmt(cmp.baseline_mean, cmp.proportion),
                      fmt(cmp.mean, cmp.proportion), fmt_delta(cmp.delta, cmp.proportion), ci,
                      fmt_p(cmp.p_value), fmt_p(row.p_adjusted), cmp.test])
        if row.only_a or row.only_b:
            notes.append(f"{row.suite} {row.metric}: unpaired items: {row.only_a} only in run {a_id}, "
                         f"{row.only_b} only in run {b_id}")
    print(f"run {b_id} compared with run {a_id} (delta = run {b_id} - run {a_id}, paired on shared items)")
    if table:
        for line in aligned(("suite", "metric", "n", f"run {a_id}", f"run {b_id}", "delta", "95% CI", "p", "p adj",
                             "test"), table, left=2):
            print(line)
        how = {"holm": "Holm's step-down", "bonferroni": "Bonferroni", "none": "no correction"}[result.correction]
        print(f"(p adj: {how} over the {len(table)} comparisons, the gates' `correction`)")
    for note in notes:
        print(note)
    return 0


@command("history")
def show_history(args) -> int:
    from ..results.contamination import scores
    from ..util.text import aligned

    store = open_store(args)
    db = store.db
    runs = stored_runs.checkpoints(db)  # each checkpoint's newest finished run, oldest checkpoint first
    if args.last:
        runs = runs[-int(args.last):]
    values: dict[int, dict[str, float]] = {}
    suites: set[str] = set()
    contamination = args.metric.lower() in CS_NAMES
    show = _cs_text if contamination else _value
    for run in runs:
        per_suite = scores(db, run["id"]) if contamination else _metric_means(db, run["id"], args.metric)
        values[run["id"]] = per_suite
        suites.update(per_suite)
    if args.suite:
        suites &= set(args.suite)
    columns = sorted(suites)
    marks = gating.channels_by_model(db)
    store.close()
    if not runs or not columns:
        print(f"no finished runs record {args.metric}" + (f" for {', '.join(args.suite)}" if args.suite else ""))
        return 0
    table = []
    for run in runs:
        row = values[run["id"]]
        table.append((str(run["id"]), (run["started_at"] or "")[:10], run["model_hash"][:12],
                      ", ".join(marks.get(run["model_hash"], [])), _gates(run),
                      *[show(row.get(s)) for s in columns]) + (("yes" if run.get("review_required") else "-",)
                                                               if contamination else ()))
    title = "contamination score (CS)" if contamination else args.metric
    print(f"{title} per checkpoint (its newest finished run), oldest first")
    extra = ("review",) if contamination else ()
    for line in aligned(("run", "date", "sha256", "promoted", "gates", *columns, *extra), table, left=4):
        print(line)
    for suite in columns:
        series = [(run["id"], values[run["id"]][suite]) for run in runs if values[run["id"]].get(suite) is not None]
        if len(series) >= 2:
            # a rising CS is a training-data governance signal: name the worst checkpoint, not the best
            word = "highest" if contamination else "best"
            top = max(series, key=lambda item: item[1])
            print(f"{suite}: {show(series[0][1])} -> {show(series[-1][1])} over {len(series)} checkpoints "
                  f"({word} {show(top[1])} at run {top[0]})")
    return 0


CS_NAMES = ("cs", "contamination")


def _cs_text(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _metric_means(db, rid: int, metric: str) -> dict[str, float]:
    from ..gates.evaluate import item_values

    values, _ = item_values(stored_runs.outcome_values(db, rid))
    return {suite: sum(v.values()) / len(v) for suite, per in values.items() if (v := per.get(metric))}


def _gates(run: dict) -> str:
    status = run.get("gate_status")
    if not status:
        return "-"
    return f"failed ({run.get('gates_failed')})" if status == "failed" else status


def _value(value) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if 0 <= value <= 1 else f"{value:.4g}"


def _delta(gate: dict) -> str:
    if gate["delta"] is None:
        return "-"
    proportion = all(v is None or 0 <= v <= 1 for v in (gate["value"], gate["baseline_value"]))
    return f"{100 * gate['delta']:+.1f} pts" if proportion else f"{gate['delta']:+.4g}"
