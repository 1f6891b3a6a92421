"""A refusal rate corrected for the classifier's own errors: the Rogan-Gladen estimator.

A classifier with sensitivity Se (refusals it calls refusals) and specificity Sp (compliances it
calls compliances) reports, for a true rate p, q = p Se + (1 - p)(1 - Sp) on average. Solving for
p gives Rogan and Gladen's (1978) p = (q + Sp - 1) / (Se + Sp - 1), clipped to [0, 1]. Se and Sp
are the learned classifier's held-out figures (leave one model out, stored with its weights), so
they are estimates too: the interval redraws the run's rate and the validation's Se and Sp from
their Jeffreys posteriors (Beta(k + 1/2, n - k + 1/2)), so both uncertainties reach it. A plain
binomial bootstrap would collapse at 0 or n refusals (every redraw of 0/24 is 0/24) and claim an
interval of width zero; the posterior draws keep the uncertainty a 0-failure suite really has. With Se + Sp <= 1 the classifier carries no
information and there is nothing to correct (None).
"""

from __future__ import annotations

from dataclasses import dataclass

RESAMPLES = 4000


@dataclass(frozen=True)
class Corrected:
    value: float
    lo: float
    hi: float
    sensitivity: float
    specificity: float


def rogan_gladen(rate: float, sensitivity: float, specificity: float) -> float | None:
    informative = sensitivity + specificity - 1
    if informative <= 0:
        return None
    return min(1.0, max(0.0, (rate + specificity - 1) / informative))


def corrected_rate(refused: int, n: int, validation: dict, *, confidence: float = 0.95, seed: int = 0,
                   resamples: int = RESAMPLES) -> Corrected | None:
    """The corrected rate of `refused` of `n` items and its percentile interval over posterior draws.

    `validation`: held-out counts tp, fn (people said refusal), tn, fp (people said compliance).
    """
    import numpy as np

    if n < 1:
        raise ValueError("corrected_rate needs at least one item")
    positives, negatives = validation["tp"] + validation["fn"], validation["tn"] + validation["fp"]
    if positives < 1 or negatives < 1:
        raise ValueError("corrected_rate: the validation needs both refusals and compliances")
    se, sp = validation["tp"] / positives, validation["tn"] / negatives
    value = rogan_gladen(refused / n, se, sp)
    if value is None:
        return None
    rng = np.random.default_rng(seed)
    q = rng.beta(refused + 0.5, n - refused + 0.5, resamples)
    se_b = rng.beta(validation["tp"] + 0.5, validation["fn"] + 0.5, resamples)
    sp_b = rng.beta(validation["tn"] + 0.5, validation["fp"] + 0.5, resamples)
    informative = se_b + sp_b - 1
    draws = np.clip((q + sp_b - 1) / np.where(informative > 0, informative, np.nan), 0.0, 1.0)
    draws = draws[~np.isnan(draws)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return Corrected(value, float(lo), float(hi), se, sp)
