"""`modeleval human export --run N --n 100 --out DIR` and `modeleval human import FILE`: sampled human evaluation.

Export writes a blinded, order-randomized sample of a run's pairwise judgments, stratified by
suite and judge verdict, as CSV and JSONL for raters; import records their labels and reports
the candidate's human win rate and the humans' agreement with the judge on the same items.
"""

from __future__ import annotations

from ..util.text import pct
from .common import CLIError, add_db_argument, command, open_store, run_id


def add_parser(sub) -> None:
    parser = sub.add_parser("human", help="sampled human evaluation: export blinded pairs, import raters' labels")
    human_sub = parser.add_subparsers(dest="human_command", required=True, metavar="COMMAND")
    e = human_sub.add_parser("export", help="write a blinded, stratified sample of a run's pairwise judgments")
    e.add_argument("--run", dest="run_ref", required=True, metavar="RUN",
                   help="the run (N, run:N, latest or sha256:<prefix>)")
    e.add_argument("--n", type=int, default=100, metavar="N", help="pairs to sample (default 100; all if fewer)")
    e.add_argument("--out", default=".", metavar="DIR", help="directory for human-runN.csv / .jsonl (default .)")
    e.add_argument("--seed", type=int, default=0, help="sampling seed (default 0): same seed, same sample")
    add_db_argument(e)
    e.set_defaults(run=run_export)
    i = human_sub.add_parser("import", help="record raters' labels and report agreement with the judge")
    i.add_argument("file", metavar="FILE", help="an exported .csv or .jsonl with the label column filled (1, 2, tie)")
    i.add_argument("--rater", metavar="NAME", help="who labelled (for rows whose rater column is empty)")
    add_db_argument(i)
    i.set_defaults(run=run_import)


@command("human export")
def run_export(args) -> int:
    from ..judge.human import HumanError, export
    from ..results.judging import pairwise_pair_count

    if args.n < 1:
        raise CLIError(f"--n {args.n}: must be at least 1")
    store = open_store(args)
    try:
        rid = run_id(store.db, args.run_ref)  # dest: `run` is the function
        total = pairwise_pair_count(store.db, rid)
        csv_path, jsonl_path, rows = export(store.db, rid, args.n, args.out, seed=args.seed)
    except HumanError as exc:
        raise CLIError(str(exc)) from None
    finally:
        store.close()
    print(f"run {rid}: {len(rows)} blinded pairs of {total} pairwise judgments (seed {args.seed}), "
          "stratified by suite and judge verdict")
    print(f"  {csv_path}")
    print(f"  {jsonl_path}")
    print("raters fill `label` with 1, 2 or tie; then: modeleval human import FILE --rater NAME")
    return 0


@command("human import")
def run_import(args) -> int:
    from ..judge.human import HumanError, import_labels

    store = open_store(args)
    try:
        report = import_labels(store.db, args.file, rater=args.rater)
    except HumanError as exc:
        raise CLIError(str(exc)) from None
    finally:
        store.close()
    skipped = f"; {report.skipped} rows without a label skipped" if report.skipped else ""
    print(f"imported {report.imported} labels from {args.file}{skipped}")
    for line in lines(report):
        print(line)
    return 0


def lines(report) -> list[str]:
    out = []
    for r in report.runs:
        c = r.counts
        out.append(f"run {r.run_id}: {r.n} labelled; humans prefer the candidate {pct(r.win_rate)} "
                   f"(95% CI {pct(r.win_lo)} to {pct(r.win_hi)}; {c['candidate']} candidate, {c['tie']} tie, "
                   f"{c['reference']} reference)")
        if r.kappa is not None:
            kappa = f"{r.kappa.value:.3f} (95% CI {r.kappa.lo:.3f} to {r.kappa.hi:.3f})"
        else:
            kappa = "undefined (one label throughout)" if r.compared else "- (no item with a judge verdict)"
        excluded = []
        if r.judge_errors:
            excluded.append(f"{r.judge_errors} judge errors")
        if r.judge_missing:
            excluded.append(f"{r.judge_missing} without a judgment in the DB")
        left_out = f"; excluded: {', '.join(excluded)}" if excluded else ""
        out.append(f"  vs judge on {r.compared} items: agreement {pct(r.agreement)}, Cohen's kappa {kappa}{left_out}")
    return out
