"""The features that ship with the package (runtime/features.py's protocol), in one list both faces start from.

The pytest plugin hands this list to the `pytest_modeleval_features` hook first (plugin/__init__.py), so a
third-party plugin or conftest adds its own after it; the command line (`modeleval gate`, `modeleval merge`)
takes this list as it is. The order is the order of the header, the summary lines and the gate adjustments.
A new built-in feature is one line here. The classes are imported when a run asks, not when pytest starts.
"""

from __future__ import annotations


def builtin_features() -> tuple[type, ...]:
    """The package's own run features (RunFeature subclasses)."""
    from .judge.feature import RunJudgments
    from .perturb.feature import RunContamination
    from .redteam.feature import RunRefusals
    from .sandbox.feature import RunSandbox

    return (RunJudgments, RunRefusals, RunContamination, RunSandbox)
