"""Hooks other plugins implement to supply engines (vLLM, HTTP servers, test doubles)."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_modeleval_make_engine(resolved, settings):
    """Return an Engine for the resolved model, or None to let the next implementation try.

    Called once per session, on first use of the model. The built-in implementation
    handles local checkpoints with transformers.
    """
