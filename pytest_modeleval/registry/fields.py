"""The runs row's record of where a registry model came from (results/tables.py RUNS, the mlflow_* columns)."""

from __future__ import annotations

from typing import Any


def registry_fields(version: Any) -> dict[str, Any]:
    """A client.ModelVersion as the runs columns: the version resolved once, the alias it was found by, the server
    without its password."""
    return {"mlflow_model": version.name, "mlflow_version": version.version, "mlflow_alias": version.alias,
            "mlflow_server": version.server}
