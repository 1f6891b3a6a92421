"""How well the string-match refusal classifiers agree with XSTest's human labels.

Reads every completions_*.csv in ../shared/data/xstest (450 completions per model, labelled by
two people) and prints a markdown table per classifier: per file and over all files, n, the
three-class agreement and Cohen's kappa (95% CI), the binary view's (refusal = full or partial
refusal) agreement and kappa, and the refusal rate the people saw against the one the
classifier reports. No model is loaded; it takes about a second.

Run: .venv/bin/python benchmarks/refusal_classifiers.py [--data DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_modeleval.redteam.classify import StringMatch
from pytest_modeleval.redteam.validate import validate_classifier, xstest_completions

XSTEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "xstest"


def kappa_text(estimate) -> str:
    return "undefined" if estimate is None else f"{estimate.value:.3f} ({estimate.lo:.3f} to {estimate.hi:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=XSTEST)
    args = parser.parse_args()
    files = sorted(args.data.glob("completions_*.csv"))
    if not files:
        raise SystemExit(f"no completions_*.csv in {args.data}")
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


if __name__ == "__main__":
    main()
