"""Hooks other plugins implement: to supply engines (vLLM, HTTP servers, test doubles) and to add run features."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_modeleval_make_engine(resolved, settings):
    """Return an Engine for the resolved model, or None to let the next implementation try.

    Called once per model of a session (the model under evaluation, and the judge and the production
    checkpoint when a suite needs them), on first use. The built-in implementation handles local
    checkpoints with transformers and the other engines of engines/factory.py.
    """


@pytest.hookspec
def pytest_modeleval_features(config):
    """Return the run features (classes implementing runtime/features.py's RunFeature) that take part in
    this session, in their order.

    Called once per session, at configure, when a model is named; the lists of every implementation are
    joined, the package's own first (builtin_features.py), and a class named twice takes part once. Each
    feature is built for the run (`for_run`), provides values to planning, adds to each outcome's payload,
    records its rows and takes part in the gates. Implement it in a plugin or in the rootdir's conftest.py
    (a conftest further down is read after the session starts).
    """
