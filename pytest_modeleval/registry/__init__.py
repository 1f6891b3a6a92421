"""Checkpoints from an MLflow model registry, and the verdicts written back to it (docs/mlflow.md).

A package of the core layer, beside modelref.py, because `--model mlflow:NAME@ALIAS` is resolved when pytest
starts. The `mlflow` package is imported only inside the functions that talk to the server (import-linter keeps
it out of every other module), so a run that names no mlflow: reference pays nothing for it.
"""
