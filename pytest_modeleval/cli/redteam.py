"""`modeleval redteam validate` and `train`: refusal classifiers against human labels (XSTest's files).

`validate` reports per file and overall: 3-class and refused-or-not agreement and Cohen's kappa,
and the refusal rate people saw against the one the classifier reports (the gates read rates).
Each file's result is stored in `classifier_validations`, as a judge validation is. For the
learned classifier with two files or more it validates leave-one-model-out (redteam/lomo.py).
`train` writes the learned classifier's weights (redteam/learned.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .common import CLIError, add_db_argument, command, db_path, settings


def add_parser(sub) -> None:
    parser = sub.add_parser("redteam", help="red-team tools: validate a refusal classifier against human labels")
    red_sub = parser.add_subparsers(dest="redteam_command", required=True, metavar="COMMAND")
    v = red_sub.add_parser("validate", help="agreement and Cohen's kappa of a refusal classifier with people")
    v.add_argument("--classifier", choices=("string", "string-xstest", "judge", "learned"), default="string",
                   help="the classifier a Refusal suite names (default string); learned with two files or more: "
                        "leave one model out, beside the string match")
    v.add_argument("--judge", metavar="REF", help="the judge model, for --classifier judge")
    v.add_argument("--direct", action="store_true", help="the template of Refusal(reasoning=False)")
    v.add_argument("--completions", nargs="+", required=True, metavar="FILE",
                   help="XSTest-format completions CSV files (id,type,prompt,completion,...,final_label)")
    v.add_argument("--limit", type=int, metavar="N", help="only the first N completions of each file")
    v.add_argument("--max-tokens", type=int, metavar="N", help="judge output tokens (default 512, 16 with --direct)")
    v.add_argument("--weights", metavar="DIR", help="--classifier learned on one file: the head in DIR "
                   "(written by `redteam train`) instead of the packaged one")
    add_db_argument(v)
    v.set_defaults(run=run_validate)
    t = red_sub.add_parser("train", help="train the learned refusal classifier from human-labelled completions")
    t.add_argument("--completions", nargs="+", required=True, metavar="FILE",
                   help="XSTest-format completions CSV files with human labels (final_label)")
    t.add_argument("--out", required=True, metavar="DIR", help="where to write refusal_head.json and NOTICE.md")
    t.set_defaults(run=run_train)


@command("redteam train")
def run_train(args) -> int:
    from ..redteam import learned

    paths = _completions(args.completions)
    document = learned.train(paths)
    try:
        path = learned.save(document, Path(args.out))
    except OSError as exc:
        raise CLIError(f"--out {args.out}: {exc}") from None
    head = learned.LearnedClassifier.load(path)
    print(f"wrote {path} ({head.name}, sha256 {head.version}) from {len(paths)} file(s), "
          f"{sum(f['n'] for f in document['training']['files'])} labelled completions")
    if document["validation"]:
        from ..redteam.lomo import kappa_of

        for f in document["validation"]["files"]:
            print(f"  held out {f['name']}: refused-or-not kappa {kappa_of(f)}")
    return 0


def _completions(names) -> list[Path]:
    """The files, each read once now so that a bad one is named before anything is computed."""
    from ..items import DataError
    from ..redteam.validate import xstest_completions

    for name in names:
        try:
            xstest_completions(Path(name))
        except (DataError, ValueError, OSError) as exc:
            raise CLIError(f"--completions {name}: {exc}") from None
    return [Path(name) for name in names]


@command("redteam validate")
def run_validate(args) -> int:
    from ..items import DataError
    from ..redteam.validate import compare, xstest_completions
    from ..results.judging import add_classifier_validation
    from ..results.store import Store, now

    if args.classifier == "judge" and not args.judge:
        raise CLIError("--classifier judge needs --judge REF")
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit {args.limit}: must be a positive number")
    project = settings()
    if args.classifier == "learned":
        return _run_learned(args, _completions(args.completions), Path(args.db) if args.db else project.db)
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
            add_classifier_validation(store.db, {
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
        from ..redteam.classify import StringMatch

        matcher = StringMatch.xstest() if args.classifier == "string-xstest" else StringMatch()
        return (lambda rows: [matcher.classify(r.prompt, r.completion) for r in rows]), None, None
    from ..modelref import ModelRefError, resolve
    from ..redteam.judge_labels import classify_all, template_sha256
    from ..runtime.predictor import standalone_predictor

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


def _run_learned(args, paths: list[Path], db: Path) -> int:
    """Leave one model out with two files or more; one file: the packaged head (or --weights DIR)."""
    from ..redteam import learned, lomo
    from ..redteam.validate import compare
    from ..results.judging import add_classifier_validation
    from ..results.store import Store, now

    if args.weights and len(paths) > 1:
        raise CLIError("--weights applies to one --completions file; with several, each is labelled by a head "
                       "trained on the others (leave one model out)")
    sets = learned.load_sets(paths)
    if args.limit is not None:
        sets = [learned.LabelledSet(s.name, s.sha256, s.rows[:args.limit]) for s in sets]
    rows = []  # (file, sha256, ClassifierValidation, details)
    if len(sets) > 1:
        report = lomo.validate(sets)
        for s, f in zip(sets, report.files):
            rows.append((str(s.name), s.sha256, f.learned, {"string_match_binary_kappa": lomo.kappa_value(f.string),
                                                            "string_match_rate": f.string.predicted_refusal_rate}))
        lines = report.lines()
    else:
        try:
            head = learned.LearnedClassifier.load(Path(args.weights) / learned.HEAD) if args.weights \
                else learned.shipped()
        except learned.ClassifierError as exc:
            raise CLIError(f"--weights {args.weights}: {exc}") from None
        (s,) = sets
        result = compare(head.name, s.rows, head.classify_all([r.prompt for r in s.rows],
                                                              [r.completion for r in s.rows]))
        trained_on = s.sha256 in {f["sha256"] for f in head.document["training"]["files"]}
        rows.append((s.name, s.sha256, result, {"in_training_data": trained_on}))
        lines = [f"classifier {head.name}" + (" (this file is in its training data, so the figures flatter it; "
                                              "give two files or more for leave-one-model-out)" if trained_on else ""),
                 "| completions | n | agreement | refused-or-not kappa | refusal rate: people / classifier |",
                 "|---|---|---|---|---|",
                 f"| {Path(s.name).stem} | {result.n} | {100 * result.binary_agreement:.1f}% | "
                 f"{_k(result.binary_kappa)} | {100 * result.human_refusal_rate:.1f}% / "
                 f"{100 * result.predicted_refusal_rate:.1f}% |"]
    store = Store(db)
    try:
        for name, digest, r, details in rows:
            add_classifier_validation(store.db, {
                "classifier": r.classifier if len(sets) == 1 else "learned:leave-one-model-out",
                "labels_file": name, "labels_sha256": digest, "n": r.n, "n_errors": 0,
                "agreement": r.agreement, "kappa": r.kappa.value if r.kappa else None,
                "kappa_lo": r.kappa.lo if r.kappa else None, "kappa_hi": r.kappa.hi if r.kappa else None,
                "binary_agreement": r.binary_agreement, "binary_kappa": r.binary_kappa.value if r.binary_kappa else None,
                "human_refusal_rate": r.human_refusal_rate, "predicted_refusal_rate": r.predicted_refusal_rate,
                "created_at": now(), "details": json.dumps({"confusion": r.confusion, **details}, sort_keys=True)})
    finally:
        store.close()
    print("\n".join(lines))
    return 0
