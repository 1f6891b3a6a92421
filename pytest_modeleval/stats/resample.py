"""The bootstrap's inner loop: many resampled means, vectorized, in bounded memory.

A resample draws G units (items, or clusters of items) with replacement and takes
sum(unit sums) / sum(unit sizes). Two exact ways to draw it:

- **Counts over distinct units.** Units with the same (sum, size) are interchangeable, so a
  resample is fully described by how many times each *distinct* unit was drawn, which is
  Multinomial(G, frequencies). Eval scores are mostly 0/1 (paired differences -1/0/1), so there
  are a handful of distinct units and 10,000 resamples cost milliseconds whatever G is.
- **Index matrix.** For continuous scores, draw a (rows, G) matrix of indices a chunk of rows
  at a time, so memory stays near `_CHUNK_ELEMENTS` however many resamples are asked for.

Both give the same distribution of resampled means; which one runs depends only on the data,
so results are reproducible given the seed.
"""

from __future__ import annotations

import numpy as np

_CHUNK_ELEMENTS = 1 << 20
# A multinomial cell costs about as much as this many index draws (measured with numpy 2.4).
_MULTINOMIAL_COST = 40


def resampled_means(sums: np.ndarray, sizes: np.ndarray, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """`n_resamples` bootstrap replicates of sum(sums) / sum(sizes), resampling units."""
    n_units = len(sums)
    uniform = bool(np.all(sizes == sizes[0]))
    keys = sums if uniform else np.column_stack([sums, sizes])
    distinct, freq = np.unique(keys, axis=0, return_counts=True)
    if len(distinct) * _MULTINOMIAL_COST <= n_units:
        d_sums = distinct if uniform else distinct[:, 0]
        d_sizes = np.full(len(distinct), sizes[0]) if uniform else distinct[:, 1]
        return _by_counts(d_sums, d_sizes, freq, n_units, n_resamples, rng)
    return _by_indices(sums, None if uniform else sizes, sizes[0], n_resamples, rng)


def _by_counts(sums, sizes, freq, n_units, n_resamples, rng) -> np.ndarray:
    out = np.empty(n_resamples)
    rows = max(1, _CHUNK_ELEMENTS // len(sums))
    pvals = freq / n_units
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        counts = rng.multinomial(n_units, pvals, size=stop - start).astype(float)
        out[start:stop] = (counts @ sums) / (counts @ sizes)
    return out


def _by_indices(sums, sizes, size, n_resamples, rng) -> np.ndarray:
    n_units = len(sums)
    out = np.empty(n_resamples)
    rows = max(1, _CHUNK_ELEMENTS // n_units)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        idx = rng.integers(0, n_units, size=(stop - start, n_units))
        total = np.take(sums, idx).sum(axis=1)
        out[start:stop] = total / (np.take(sizes, idx).sum(axis=1) if sizes is not None else n_units * size)
    return out
