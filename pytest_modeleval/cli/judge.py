"""`modeleval judge validate --judge REF --labels FILE`: measure a judge against human labels, store the record.

The record is keyed by the judge's content hash and the prompt template's hash; a run's
win-rate gate counts that judge's verdicts only while its newest record for the template
reaches --min-kappa. Exit status 0 when it does, 1 when it does not, 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path

from .common import CLIError, add_db_argument, command, db_path, settings


def add_parser(sub) -> None:
    parser = sub.add_parser("judge", help="judge tools: validate a judge against human-labelled pairs")
    judge_sub = parser.add_subparsers(dest="judge_command", required=True, metavar="COMMAND")
    v = judge_sub.add_parser("validate", help="agreement and Cohen's kappa of a judge with human labels")
    v.add_argument("--judge", required=True, metavar="REF", help="the judge model (any model reference)")
    v.add_argument("--labels", required=True, metavar="FILE",
                   help="labelled pairs: .json list, .jsonl or .csv with question, two answers and a label 1/2/tie")
    v.add_argument("--rubric", metavar="FILE", help="a text file with the rubric a suite gives Pairwise(rubric=...)")
    v.add_argument("--direct", action="store_true", help="the template of Pairwise(reasoning=False)")
    v.add_argument("--both-orders", action="store_true", help="judge each pair in both orders (disagreement = tie)")
    v.add_argument("--samples", type=int, metavar="K",
                   help="verdicts asked per pair, as Pairwise(judge_samples=K): the kappa is of their settled verdict, "
                        "and the flip rate says how often they differed (default 1, or 2 with --both-orders)")
    v.add_argument("--flips", choices=("tie", "majority"), default="tie",
                   help="how K verdicts that differ are settled, as Pairwise(judge_flips=...) (default tie)")
    v.add_argument("--limit", type=int, metavar="N", help="only the first N pairs")
    v.add_argument("--min-kappa", type=float, metavar="KAPPA",
                   help="kappa needed to trust the judge (default: judge-min-kappa of the project, else 0.7)")
    v.add_argument("--out", metavar="FILE", help="write each pair's human label, judge label and judge output (JSONL)")
    v.add_argument("--retries", type=int, default=2, metavar="N", help="re-asks for an unreadable verdict (2)")
    v.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="judge output tokens (default 512, or 16 with --direct)")
    add_db_argument(v)
    v.set_defaults(run=run_validate)


@command("judge validate")
def run_validate(args) -> int:
    import dataclasses

    from ..judge import labels
    from ..judge.validate import validate
    from ..modelref import ModelRefError
    from ..results.judging import add_validation
    from ..results.store import Store

    project = settings()
    if args.min_kappa is not None:
        if not -1 <= args.min_kappa <= 1:
            raise CLIError(f"--min-kappa {args.min_kappa}: must lie between -1 and 1")
        project = dataclasses.replace(project, judge_min_kappa=args.min_kappa)
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit {args.limit}: must be a positive number of pairs")
    rubric = None
    if args.rubric:
        try:
            rubric = Path(args.rubric).read_text(encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"--rubric {args.rubric}: {exc.strerror}") from None
    if args.samples is not None and (args.samples < 1 or args.both_orders and args.samples % 2):
        raise CLIError(f"--samples {args.samples}: must be a whole number >= 1"
                       + (", and even with --both-orders (each order asked equally often)" if args.both_orders else ""))
    try:
        result, judgments = validate(args.judge, Path(args.labels), project, rubric=rubric, reasoning=not args.direct,
                             both_orders=args.both_orders, limit=args.limit, retries=args.retries,
                             max_tokens=args.max_tokens or (16 if args.direct else 512), samples=args.samples,
                             flips=args.flips)
    except labels.LabelsError as exc:
        raise CLIError(f"--labels: {exc}") from None
    except ModelRefError as exc:
        raise CLIError(f"--judge: {exc}") from None
    result.labels_file = args.labels
    store = Store(db_path(args))
    try:
        record_id = add_validation(store.db, result.record())
    finally:
        store.close()
    if args.out:
        _write_pairs(Path(args.out), Path(args.labels), judgments, args.limit)
    for line in report(result, record_id):
        print(line)
    return 0 if result.passed else 1


def _write_pairs(path: Path, labels_path: Path, judgments: list, limit: int | None) -> None:
    """One JSON line per pair: where it came from, both labels, the judge's output (to read the disagreements)."""
    import json

    from ..judge import labels
    from ..judge.validate import JUDGE_LABEL

    pairs = labels.load(labels_path)[:limit]
    with path.open("w", encoding="utf-8") as f:
        for pair, j in zip(pairs, judgments):
            f.write(json.dumps({"where": pair.where, "question": pair.question, "output_1": pair.first,
                                "output_2": pair.second, "human": pair.label,
                                "judge": "error" if j.error else JUDGE_LABEL[j.outcome],
                                "answer_1_shown_as": j.candidate_slots, "judge_outputs": j.outputs, "flips": j.flips,
                                "error": j.error}) + "\n")


def report(v, record_id: int) -> list[str]:
    kappa = "undefined (one label throughout)" if v.kappa is None else \
        f"{v.kappa:.3f} (95% CI {v.kappa_lo:.3f} to {v.kappa_hi:.3f})"
    lines = [f"judge sha256:{v.judge_hash[:12]} ({v.judge_ref}), template {v.template_sha256[:12]}",
             f"{v.n} labelled pairs from {v.labels_file}: agreement {100 * v.agreement:.1f}%, Cohen's kappa {kappa}",
             f"unreadable verdicts: {v.n_errors} (counted as disagreements)"]
    if v.first_slot_rate is not None:
        lines.append(f"position bias: the first answer shown won {100 * v.first_slot_rate:.1f}% of decisive verdicts")
    if v.samples > 1 and v.flip_rate is not None:
        lines.append(f"stability: {v.samples} verdicts per pair ({'both orders' if v.both_orders else 'one order'}, "
                     f"settled as {v.flip_rule!r}); they differed on {100 * v.flip_rate:.1f}% of the readable pairs")
    cells = ", ".join(f"{key}: {count}" for key, count in sorted(v.confusion.items()))
    lines.append(f"human -> judge: {cells}")
    verdict = "VALIDATED" if v.passed else "NOT VALIDATED"
    lines.append(f"{verdict}: kappa must reach {v.min_kappa:g}; stored as validation {record_id}")
    return lines
