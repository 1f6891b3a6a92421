"""Cohen's kappa: agreement between two raters (a judge model and people, two judges) beyond chance.

Raw agreement flatters a judge when one label dominates: two raters who both say "pass" 90% of
the time agree 82% of the time by chance alone. Kappa rescales so chance is 0 and perfect is 1.
"""

from __future__ import annotations

import math

import numpy as np

from .inputs import same_length
from .proportion import z_for_confidence
from .results import Estimate


def cohen_kappa(rater1, rater2, *, confidence: float = 0.95) -> Estimate:
    """Unweighted Cohen's kappa for two label sequences over the same items, with its large-sample se.

    kappa = (p_o - p_e) / (1 - p_e): p_o the observed agreement, p_e the agreement expected from
    each rater's label frequencies. The se is Fleiss, Cohen and Everitt's (1969) asymptotic one,
    as statsmodels' cohens_kappa reports it, and the interval is kappa +- z * se.
    """
    r1, r2 = np.asarray(rater1), np.asarray(rater2)
    n = same_length("cohen_kappa", rater1=r1, rater2=r2)
    if r1.ndim != 1 or r2.ndim != 1 or n == 0:
        raise ValueError(f"cohen_kappa needs two non-empty 1-D label sequences, got shapes {r1.shape} and {r2.shape}")
    codes = np.unique(np.concatenate([r1, r2]), return_inverse=True)[1].ravel()
    k = int(codes.max()) + 1
    table = np.bincount(codes[:n] * k + codes[n:], minlength=k * k).reshape(k, k) / n
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    p_o = float(np.trace(table))
    p_e = float(rows @ cols)
    if p_e == 1:
        raise ValueError("cohen_kappa is undefined when both raters give one and the same label to every item")
    kappa = (p_o - p_e) / (1 - p_e)
    se = math.sqrt(_variance(table, rows, cols, kappa, p_e) / n)
    z = z_for_confidence(confidence)
    return Estimate(kappa, kappa - z * se, kappa + z * se, se, confidence)


def _variance(table, rows, cols, kappa, p_e) -> float:
    """n * Var(kappa), Fleiss, Cohen and Everitt (1969)."""
    diag = np.diag(table) * (1 - (rows + cols) * (1 - kappa)) ** 2
    off = table * (cols[:, None] + rows[None, :]) ** 2
    np.fill_diagonal(off, 0)
    total = diag.sum() + (1 - kappa) ** 2 * off.sum() - (kappa - p_e * (1 - kappa)) ** 2
    return max(float(total), 0.0) / (1 - p_e) ** 2
