"""pass@k: the chance that at least one of k samples solves a task, estimated from n >= k samples.

Drawing exactly k samples and checking "any correct" is high-variance; the estimator of Chen et
al. 2021 ("Evaluating Large Language Models Trained on Code") uses all n samples, c of them
correct, and is unbiased: 1 - C(n - c, k) / C(n, k).
"""

from __future__ import annotations

from math import comb

import numpy as np


def pass_at_k(n, c, k):
    """Unbiased pass@k for each task with n samples of which c are correct; average it over tasks.

    Scalars give a float; arrays (broadcast together) give an array of per-task values.
    Computed as (C(n, k) - C(n - c, k)) / C(n, k) in exact integers, rounded once: no
    cancellation when pass@k is tiny, and no overflow for large n (the Codex paper's product form
    1 - prod(1 - k / i) is what this is checked against).
    """
    ns, cs, ks = np.broadcast_arrays(*(_counts(v, name) for v, name in ((n, "n"), (c, "c"), (k, "k"))))
    out = np.empty(ns.shape)
    for i in np.ndindex(ns.shape):
        out[i] = _one(int(ns[i]), int(cs[i]), int(ks[i]), i)
    return float(out) if out.ndim == 0 else out


def _one(n: int, c: int, k: int, where) -> float:
    at = f" (task {where[0] if len(where) == 1 else where})" if where else ""
    check_counts("pass_at_k", n, c, k, "samples per task", at)
    total = comb(n, k)
    return (total - comb(n - c, k)) / total


def check_counts(func: str, n: int, c: int, k: int, samples: str = "samples", at: str = "") -> None:
    """k, c and n of an estimator over n samples with c right: 1 <= k <= n and 0 <= c <= n, or an error naming them."""
    if k < 1:
        raise ValueError(f"{func} needs k >= 1, got k={k}{at}")
    if not 0 <= c <= n:
        raise ValueError(f"{func} needs 0 <= c <= n, got n={n}, c={c}{at}")
    if k > n:
        raise ValueError(f"{func} needs k <= n (at least k {samples}), got n={n}, k={k}{at}")


def _counts(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or _integral_floats(arr)):
        raise TypeError(f"pass_at_k: {name} must be whole numbers, got {values!r}")
    return arr.astype(np.int64)


def _integral_floats(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.floating) and bool(np.all(np.isfinite(arr) & (arr == np.round(arr))))
