"""Root conftest: evals here never reach for the HF hub (models and data load from local files)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
