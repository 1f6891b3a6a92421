"""Shared test setup: pytester for the plugin tests, and never go online."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["pytester"]
