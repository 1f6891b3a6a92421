"""`modeleval redteam validate`: a refusal classifier against human labels (XSTest's completions files).

Reports per file and overall: 3-class and refused-or-not agreement and Cohen's kappa, and the
refusal rate people saw against the one the classifier reports (the gates read rates). Each
file's result is stored in `classifier_validations`, as a judge validation is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .cli_common import CLIError, add_db_argument, command, db_path, settings


def add_parser(sub) -> None:
    parser = sub.add_parser("redteam", help="red-team tools: validate a refusal classifier against human labels")
    red_sub = parser.add_subparsers(dest="redteam_command", required=True, metavar="COMMAND")
    v = red_sub.add_parser("validate", help="agreement and Cohen's kappa of a refusal classifier with people")
    v.add_argument("--classifier", choices=("string", "string-xstest", "judge"), default="string",
                   help="the classifier a Refusal suite names (default string)")
    v.add_argument("--judge", metavar="REF", help="the judge model, for --classifier judge")
    v.add_argument("--direct", action="store_true", help="the template of Refusal(reasoning=False)")
    v.add_argument("--completions", nargs="+", required=True, metavar="FILE",
                   help="XSTest-format completions CSV files (id,type,prompt,completion,...,final_label)")
    v.add_argument("--limit", type=int, metavar="N", help="only the first N completions of each file")
    v.add_argument("--max-tokens", type=int, metavar="N", help="judge output tokens (default 512, 16 with --direct)")
    add_db_argument(v)
    v.set_defaults(run=run_validate)


@command("redteam validate")
def run_validate(args) -> int:
    from .items import DataError
    from .redteam.validate import compare, xstest_completions
    from .store import Store, now

    if args.classifier == "judge" and not args.judge:
        raise CLIError("--classifier judge needs --judge REF")
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit {args.limit}: must be a positive number")
    project = settings()
    files = []
    for name in args.completions:
        try:
            files.append((name, xstest_completions(Path(name))[:args.limit]))
        except (DataError, ValueError, OSError) as exc:
            raise CLIError(f"--completions {name}: {exc}") from None
    label, judge_hash, template = _labeller(args, project)
    results, everything, all_predicted = [], [], []
    for name, rows in files:
        predicted = label(rows)
        result = compare(_name(args, judge_hash), rows, predicted)
        results.append((name, result))
        everything += rows
        all_predicted += predicted
    if len(files) > 1:
        results.append(("all", compare(_name(args, judge_hash), everything, all_predicted)))
    store = Store(db_path(args))
    try:
        for name, r in results:
            digest = hashlib.sha256(Path(name).read_bytes()).hexdigest() if name != "all" else None
            store.db["classifier_validations"].insert({
                "classifier": r.classifier, "judge_hash": judge_hash, "template_sha256": template,
                "labels_file": name, "labels_sha256": digest, "n": r.n,
                "n_errors": sum(v for k, v in r.confusion.items() if k.endswith("->error")),
                "agreement": r.agreement, "kappa": r.kappa.value if r.kappa else None,
                "kappa_lo": r.kappa.lo if r.kappa else None, "kappa_hi": r.kappa.hi if r.kappa else None,
                "binary_agreement": r.binary_agreement, "binary_kappa": r.binary_kappa.value if r.binary_kappa else None,
                "human_refusal_rate": r.human_refusal_rate, "predicted_refusal_rate": r.predicted_refusal_rate,
                "created_at": now(), "details": json.dumps({"confusion": r.confusion}, sort_keys=True)})
    finally:
        store.close()
    print(f"classifier {_name(args, judge_hash)}" + (f", template {template[:12]}" if template else ""))
    print("| completions | n | agreement | Cohen's kappa | refused-or-not agreement | refused-or-not kappa | "
          "refusal rate: people / classifier |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results:
        print(f"| {Path(name).stem if name != 'all' else 'all'} | {r.n} | {100 * r.agreement:.1f}% | {_k(r.kappa)} | "
              f"{100 * r.binary_agreement:.1f}% | {_k(r.binary_kappa)} | "
              f"{100 * r.human_refusal_rate:.1f}% / {100 * r.predicted_refusal_rate:.1f}% |")
    return 0


def _labeller(args, project):
    """label(rows) -> predicted labels, with the judge's hash and template hash when it is the judge."""
    if args.classifier != "judge":
        from .redteam.classify import StringMatch

        matcher = StringMatch.xstest() if args.classifier == "string-xstest" else StringMatch()
        return (lambda rows: [matcher.classify(r.prompt, r.completion) for r in rows]), None, None
    from .engines.factory import standalone_predictor
    from .modelref import ModelRefError, resolve
    from .redteam.judge_labels import classify_all, template_sha256

    try:
        resolved = resolve(args.judge, registry=project.registry, base_dir=project.model_base)
    except ModelRefError as exc:
        raise CLIError(f"--judge: {exc}") from None
    max_tokens = args.max_tokens or (16 if args.direct else 512)

    def label(rows):
        with standalone_predictor(resolved, project) as (engine, predictor):
            return classify_all(rows, predictor, lambda prompt, chat, role="judge": engine.render(prompt, chat),
                                resolved.sha256, reasoning=not args.direct, max_tokens=max_tokens,
                                seed=project.seed)

    return label, resolved.sha256, template_sha256(not args.direct)


def _name(args, judge_hash) -> str:
    if args.classifier == "judge":
        return f"judge:{judge_hash[:12]}"
    return "string-match-xstest" if args.classifier == "string-xstest" else "string-match"


def _k(estimate) -> str:
    return "undefined" if estimate is None else f"{estimate.value:.3f} ({estimate.lo:.3f} to {estimate.hi:.3f})"
