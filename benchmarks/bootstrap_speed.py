"""Bootstrap speed against the target: 10,000 resamples over 10,000 items in at most 1 s.

Times pytest_modeleval.stats on continuous scores (the index-matrix path) and on 0/1 outcomes
(the counts path), plain, clustered (5,000 source items x 2 variants) and paired, and prints the
median seconds of --repeat runs and the ratio to the target. When scipy is importable, also times
scipy.stats.bootstrap on the same job (percentile method, resamples in batches of 1,000 so it
fits in memory; the cluster job as scipy's paired bootstrap of the cluster sums and sizes).
Run: .venv/bin/python benchmarks/bootstrap_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pytest_modeleval.stats import bootstrap_ci, paired_bootstrap_diff

N_ITEMS = N_RESAMPLES = 10_000
TARGET_S = 1.0


def median_time(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scipy_job(data, statistic, paired: bool):
    from scipy.stats import bootstrap

    return lambda: bootstrap(data, statistic, n_resamples=N_RESAMPLES, method="percentile", paired=paired,
                             vectorized=True, batch=1_000, rng=np.random.default_rng(0))


def jobs():
    rng = np.random.default_rng(0)
    clusters = np.arange(N_ITEMS) // 2
    sizes = np.bincount(clusters).astype(float)
    for kind, a, b in [
        ("continuous", rng.random(N_ITEMS), rng.random(N_ITEMS)),
        ("0/1       ", (rng.random(N_ITEMS) < 0.7).astype(float), (rng.random(N_ITEMS) < 0.68).astype(float)),
    ]:
        sums = np.bincount(clusters, weights=a)
        yield (f"{kind} plain    ", lambda a=a: bootstrap_ci(a, n_resamples=N_RESAMPLES),
               lambda a=a: scipy_job((a,), lambda x, axis=-1: x.mean(axis), False))
        yield (f"{kind} clustered", lambda a=a: bootstrap_ci(a, clusters=clusters, n_resamples=N_RESAMPLES),
               lambda s=sums: scipy_job((s, sizes), lambda s, m, axis=-1: s.sum(axis) / m.sum(axis), True))
        yield (f"{kind} paired   ", lambda a=a, b=b: paired_bootstrap_diff(a, b, n_resamples=N_RESAMPLES),
               lambda a=a, b=b: scipy_job((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    try:
        import scipy  # noqa: F401
        have_scipy = True
    except ImportError:
        have_scipy = False
    print(f"{N_RESAMPLES:,} resamples x {N_ITEMS:,} items, median of {repeat} runs, target {TARGET_S:.1f} s")
    for label, ours, theirs in jobs():
        ours()  # warm up
        seconds = median_time(ours, repeat)
        line = f"{label}: {seconds:6.3f} s ({seconds / TARGET_S:5.3f} of target)"
        if have_scipy:
            reference = median_time(theirs(), max(1, repeat // 2))
            line += f"   scipy.stats.bootstrap {reference:6.3f} s ({reference / seconds:6.1f}x ours)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
