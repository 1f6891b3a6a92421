"""Shared test setup: pytester for the plugin tests, and never go online."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester, monkeypatch):
    """In-process runs reuse the plugin this session already imported; pytest then warns that it
    cannot assert-rewrite it again. That warning is about the test set-up, not the plugin."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning")
    return pytester
