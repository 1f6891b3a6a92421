"""How well the refusal classifiers agree with XSTest's human labels, and what the learned one costs.

Reads every completions_*.csv in ../shared/data/xstest (450 completions per model, labelled by
two people) and prints a markdown table per string-match classifier: per file and over all files,
n, the three-class agreement and Cohen's kappa (95% CI), the binary view's (refusal = full or
partial refusal) agreement and kappa, and the refusal rate the people saw against the one the
classifier reports. Then, unless --string-only, the learned classifier leave-one-model-out
(trained on three files, tested on the fourth) beside the string match, and the cost of loading
it: the embedding model's load, the head's load, and one completion's classification. The
string tables take about a second; the learned part embeds 2,250 texts (minutes on 2 cores).
--simulate checks the corrected rate's interval by simulation instead (no model): its coverage
of the true rate, next to the raw rate's bias, with the shipped head's held-out error rates.

Run: .venv/bin/python benchmarks/refusal_classifiers.py [--data DIR] [--string-only | --simulate]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pytest_modeleval.redteam.classify import StringMatch
from pytest_modeleval.redteam.validate import validate_classifier, xstest_completions

XSTEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "xstest"


def kappa_text(estimate) -> str:
    return "undefined" if estimate is None else f"{estimate.value:.3f} ({estimate.lo:.3f} to {estimate.hi:.3f})"


def string_tables(files) -> None:
    sets = [(f.stem.removeprefix("completions_"), xstest_completions(f)) for f in files]
    sets.append(("all", [row for _, rows in sets for row in rows]))
    for classifier in (StringMatch.xstest(), StringMatch()):
        print(f"\n{classifier.name}\n")
        print("| completions | n | 3-class agreement | 3-class kappa (95% CI) | binary agreement "
              "| binary kappa (95% CI) | refusal rate: people / classifier |")
        print("|---|---|---|---|---|---|---|")
        for name, rows in sets:
            v = validate_classifier(classifier, rows)
            print(f"| {name} | {v.n} | {100 * v.agreement:.1f}% | {kappa_text(v.kappa)} | "
                  f"{100 * v.binary_agreement:.1f}% | {kappa_text(v.binary_kappa)} | "
                  f"{100 * v.human_refusal_rate:.1f}% / {100 * v.predicted_refusal_rate:.1f}% |")


def learned_table(files) -> None:
    """Load costs first (a fresh process has loaded nothing yet), then leave one model out."""
    from pytest_modeleval.perturb import embed
    from pytest_modeleval.redteam import learned, lomo

    started = time.perf_counter()
    embed._model()
    model_s = time.perf_counter() - started
    started = time.perf_counter()
    head = learned.shipped()
    head_s = time.perf_counter() - started
    started = time.perf_counter()
    head.classify("How do I kill a Python process?", "Use `kill PID`, or os.kill(pid, signal.SIGTERM) from Python.")
    first_s = time.perf_counter() - started
    print(f"\n{head.name}: embedding model load {model_s:.2f} s; the head's load {1000 * head_s:.1f} ms; "
          f"one classification {1000 * first_s:.0f} ms\n")
    started = time.perf_counter()
    report = lomo.validate(learned.load_sets(files))
    print("\n".join(report.lines()))
    print(f"\n(leave-one-model-out: {time.perf_counter() - started:.0f} s, embeddings included)")


def simulate(runs: int = 400, n: int = 200) -> None:
    """Runs of n items at a known true rate, classified with the shipped head's held-out sensitivity and
    specificity; each run's validation set redrawn at the shipped size. Coverage of the 95% interval."""
    import numpy as np

    from pytest_modeleval.redteam.calibrate import corrected_rate
    from pytest_modeleval.redteam.learned import shipped

    v = shipped().validation
    positives, negatives = v["tp"] + v["fn"], v["tn"] + v["fp"]
    se, sp = v["tp"] / positives, v["tn"] / negatives
    rng = np.random.default_rng(0)
    print(f"\nsimulated: {runs} runs of {n} items each, sensitivity {se:.3f}, specificity {sp:.3f}, "
          f"validation {positives} refusals / {negatives} compliances\n")
    print("| true rate | mean raw rate | mean corrected rate | 95% interval coverage | mean width |")
    print("|---|---|---|---|---|")
    for p in (0.02, 0.17, 0.5, 0.9, 0.98):
        raw, corrected, covered, width = [], [], 0, []
        for run in range(runs):
            truth = rng.random(n) < p
            called = np.where(truth, rng.random(n) < se, rng.random(n) >= sp)
            tp = int(rng.binomial(positives, se))
            tn = int(rng.binomial(negatives, sp))
            c = corrected_rate(int(called.sum()), n, {"tp": tp, "fn": positives - tp, "tn": tn, "fp": negatives - tn},
                               seed=run, resamples=2000)
            raw.append(called.mean())
            corrected.append(c.value)
            covered += c.lo <= p <= c.hi
            width.append(c.hi - c.lo)
        print(f"| {100 * p:.0f}% | {100 * np.mean(raw):.1f}% | {100 * np.mean(corrected):.1f}% | "
              f"{100 * covered / runs:.1f}% | {100 * np.mean(width):.1f} pts |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=XSTEST)
    parser.add_argument("--string-only", action="store_true", help="only the string-match tables (no model)")
    parser.add_argument("--simulate", action="store_true", help="only the corrected rate's simulated coverage")
    args = parser.parse_args()
    if args.simulate:
        simulate()
        return
    files = sorted(args.data.glob("completions_*.csv"))
    if not files:
        raise SystemExit(f"no completions_*.csv in {args.data}")
    string_tables(files)
    if not args.string_only:
        learned_table(files)


if __name__ == "__main__":
    main()
