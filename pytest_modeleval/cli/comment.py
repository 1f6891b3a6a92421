"""`modeleval comment RUN [--baseline RUN]`: a recorded run as one pull-request comment in markdown, on stdout.

It posts nothing: the workflow posts the text (`gh pr comment --body-file`, GitLab's notes API; docs/ci.md), so
the command needs no token and works on any machine that reaches the results DB. The page is the one a run writes
to GitHub's job summary (report/markdown.py): the recorded gate verdicts with their deltas and intervals, the
items that flipped against the baseline, and where the dashboard is.
"""

from __future__ import annotations

from .common import CLIError, add_db_argument, command, open_store, run_id

def add_parser(sub) -> None:
    comment = sub.add_parser("comment", help="a recorded run as one pull-request comment in markdown: its gates, the "
                                             "items that flipped against the baseline, the dashboard (prints it; "
                                             "posts nothing)")
    comment.add_argument("run_ref", metavar="RUN", help="N, run:N, latest, sha256:<prefix> (that model's newest run), "
                                                        "or group:ID (the union run of a run group's shards)")
    comment.add_argument("--baseline", metavar="RUN", help="the run the flipped items are counted against (default: "
                                                           "the baseline the run's gates compared it with)")
    comment.add_argument("--dashboard-url", metavar="URL",
                         help="where the dashboard is, e.g. actions/upload-artifact's artifact-url (default under "
                              "GitHub Actions: the workflow run's page)")
    add_db_argument(comment)
    comment.set_defaults(run=print_comment)


@command("comment")
def print_comment(args) -> int:
    from ..report.markdown import render

    store = open_store(args)
    try:
        summary = _summary(store, args)
    finally:
        store.close()
    print(render(summary), end="")
    return 0


def _summary(store, args):
    from ..gates.comparison import RunItems
    from ..gates.reviewed import parse
    from ..report.annotations import workflow_run_url
    from ..report.compare import flips
    from ..report.markdown import RunSummary, verdict_line
    from ..results import gating, runs

    db = store.db
    rid = _group_run(store, args.run_ref.removeprefix("group:")) if args.run_ref.startswith("group:") \
        else run_id(db, args.run_ref)
    run = runs.run(db, rid)
    if run is None:  # deleted since it was named (another process pruning the DB)
        raise CLIError(f"run {rid} is no longer in the results database")
    gates = gating.gates_of(db, rid)
    gated_against = run.get("baseline_run_id")
    against = run_id(db, args.baseline) if args.baseline else gated_against
    if against == rid:
        raise CLIError(f"--baseline {args.baseline} is run {rid} itself")
    flipped = None
    if against is not None and runs.run(db, against) is not None:
        before, now = RunItems.read(db, against), RunItems.read(db, rid)
        flipped = {suite: flips(before, now, suite) for suite in sorted(now.suites)}
    notes = []
    if run.get("ended_at") is None:
        notes.append(f"run {rid} has not finished (still running, or interrupted): its verdicts may be missing")
    if parse(run.get("unreviewed")):
        notes.append("not promotable: these files were not the committed ones: " + ", ".join(parse(run["unreviewed"])))
    status = verdict_line(gates, run.get("exit_status")) if gates else (
        "no gates recorded (gates off, no answered items, or an interrupted run)")
    return RunSummary(
        title=f"run {rid}: {run.get('model_ref') or '-'} (sha256:{(run.get('model_hash') or '')[:12]})",
        status=status, failed=run.get("gate_status") == "failed" or run.get("exit_status") not in (0, None),
        baseline=_label(db, gated_against) if gated_against is not None else None,
        baseline_note="" if gates else "no gates recorded",
        gates=gates, flips=flipped, flips_against=_label(db, against) if against is not None else "",
        dashboard_url=args.dashboard_url or workflow_run_url(), dashboard_command=_dashboard_command(args),
        notes=notes)


def _group_run(store, group: str) -> int:
    """The union run of a run group, as its last shard built and gated it; nothing is built here (a comment only
    reads): while there is none, refused (status 1) with the shards that are in and those missing."""
    from ..results.rungroup import RunGroup, RunGroupError, find_group, union_run

    try:
        model_hash = find_group(store.db, group)
    except RunGroupError as exc:
        raise CLIError(str(exc)) from None
    rid = union_run(store.db, model_hash, group)
    if rid is None:
        described = RunGroup(store, model_hash, group).describe()
        raise CLIError(f"{described}: no union run yet (the last shard builds and gates it, or `modeleval gate "
                       f"group:{group}`)", status=1)
    return rid


def _label(db, rid: int) -> str:
    from ..results import runs

    run = runs.run(db, rid)
    return f"run {rid} (sha256:{run['model_hash'][:12]})" if run is not None else f"run {rid} (no longer in the DB)"


def _dashboard_command(args) -> str:
    """`modeleval report` on the same DB: `--db` as given when it is a path; a URL stays out (it may hold a
    password, and the command reads MODELEVAL_DB itself)."""
    from ..dburl import is_url, normalize
    from ..report.markdown import DASHBOARD_DIR

    command = f"modeleval report --html {DASHBOARD_DIR}"
    if args.db and not is_url(normalize(args.db)):
        command += f" --db {args.db}"
    return command
