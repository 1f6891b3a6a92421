"""Coverage of the repeated-samples intervals (stats/repeated.py): why they are over items, not samples.

Simulates suites of --items items with --samples samples each, where item i is right with its own chance
p_i ~ Beta(1, 1) (items differ in difficulty, so an item's samples agree more than chance would have it),
and counts how often each 95% interval covers the true value: pass@1 (E p = 1/2) by the bootstrap over items
and by a Wilson interval that takes every sample for an item, pass^K (E p^K = 1/(K + 1)) and the flaky share
(1 - 2/(K + 1)) by Wilson over items. The figures in docs/statistics.md come from the defaults.
Run: .venv/bin/python benchmarks/repeated_coverage.py [--suites N] [--items N] [--samples K]
"""

from __future__ import annotations

import argparse

import numpy as np

from pytest_modeleval.stats import repeated_samples, wilson


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    n, k = args.items, args.samples
    truth = {"pass@1 over items": 0.5, "pass@1 over samples (Wilson)": 0.5, "pass^K": 1 / (k + 1),
             "flaky": 1 - 2 / (k + 1)}
    covered = dict.fromkeys(truth, 0)
    rng = np.random.default_rng(1)
    for r in range(args.suites):
        p = rng.beta(1, 1, n)
        outcomes = (rng.random((n, k)) < p[:, None]).astype(int)
        figures = repeated_samples(outcomes.tolist(), k, n_resamples=2000, seed=r)
        intervals = {"pass@1 over items": (figures.pass_at_1.lo, figures.pass_at_1.hi),
                     "pass@1 over samples (Wilson)": wilson(int(outcomes.sum()), n * k),
                     "pass^K": (figures.pass_hat_k.lo, figures.pass_hat_k.hi),
                     "flaky": (figures.flaky.lo, figures.flaky.hi)}
        for name, (lo, hi) in intervals.items():
            covered[name] += lo <= truth[name] <= hi
    print(f"{args.suites} suites of {n} items x {k} samples, p_i ~ Beta(1, 1); coverage of 95% intervals:")
    for name, hits in covered.items():
        print(f"  {name:30s} {100 * hits / args.suites:5.1f}%")


if __name__ == "__main__":
    main()
