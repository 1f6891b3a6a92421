"""Statistics for eval results: intervals, paired comparisons between runs, agreement, pass@k and pass^k, power.

Every function takes plain sequences or numpy arrays of per-item values and returns a float or a
small frozen dataclass (`Estimate`, `TestResult`, `PairedDiff`). Names are loaded on first use, so
`from pytest_modeleval.stats import wilson` (the end-of-run table) does not import numpy.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Estimate": "results", "TestResult": "results", "PairedDiff": "results",
    "Z95": "proportion", "wilson": "proportion", "wilson_estimate": "proportion",
    "z_for_confidence": "proportion", "normal_p_value": "proportion", "z_test": "proportion",
    "bootstrap_ci": "bootstrap", "paired_bootstrap_diff": "bootstrap",
    "clustered_se": "clustered", "normal_ci": "clustered",
    "source_items": "inputs",
    "mcnemar_exact": "mcnemar",
    "cohen_kappa": "agreement",
    "pass_at_k": "passk",
    "pass_hat_k": "repeated", "repeated_samples": "repeated", "RepeatedSamples": "repeated",
    "min_detectable_effect": "power", "sample_size_for_effect": "power",
}

__all__ = [*_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
