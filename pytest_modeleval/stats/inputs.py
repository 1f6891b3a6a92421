"""Checking and shaping the arrays the statistics take, with errors that name the bad input."""

from __future__ import annotations

import re

import numpy as np

_VARIANT = re.compile(r"-p\d+(?:-s\d+)?$")  # a variant, and a sample of it in a suite with samples=K


def scores_array(values, name: str, func: str) -> np.ndarray:
    """A non-empty 1-D float array of finite values."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}: {name} must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{func}: {name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{func}: {name} is empty")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{func}: {name}[{bad[0]}] is {arr[bad[0]]}; scores must be finite")
    return arr


def same_length(func: str, **arrays) -> int:
    """The common length of the arrays, or an error listing every length."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"{func}: inputs must have the same length; {shown}")
    return next(iter(lengths.values()))


def cluster_codes(clusters, n: int, func: str) -> np.ndarray:
    """Integer codes 0..G-1 for the cluster labels (any hashable, sortable labels)."""
    labels = np.asarray(clusters)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{func}: clusters must be one label per item ({n}), got shape {labels.shape}")
    return np.unique(labels, return_inverse=True)[1].ravel()


def cluster_totals(scores: np.ndarray, clusters, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster score sums and sizes; without clusters every item is its own cluster."""
    if clusters is None:
        return scores, np.ones(len(scores))
    codes = cluster_codes(clusters, len(scores), func)
    return np.bincount(codes, weights=scores), np.bincount(codes).astype(float)


def source_items(item_ids) -> list[str]:
    """Cluster labels from item ids: `suite-0042-p1` -> `suite-0042`, so variants of a row group together;
    `suite-0042-p0-s3` -> `suite-0042` too, so the K samples of an item (samples=K) group together."""
    return [_VARIANT.sub("", str(item_id)) for item_id in item_ids]
