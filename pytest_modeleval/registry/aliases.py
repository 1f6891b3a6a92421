"""Moving a registry alias (`production`): `modeleval promote`'s last step, once our promotion rules allowed it.

The alias is the registry's pointer that deployments follow, so it moves only after the results DB recorded the
promotion, and the version is tagged with who moved it and which promotion allowed it (the record MLflow keeps).
"""

from __future__ import annotations

from .client import ModelVersion, RegistryError, connect


def move(version: ModelVersion, alias: str, tags: dict[str, str]) -> str | None:
    """Point `alias` at the version and tag it; returns the version the alias pointed at before (None if none)."""
    from mlflow.exceptions import MlflowException

    client = connect(version.uri)
    try:
        before = str(client.get_model_version_by_alias(version.name, alias).version)
    except MlflowException:
        before = None
    try:
        for key, value in tags.items():
            client.set_model_version_tag(version.name, version.version, key, value)
        if before != version.version:
            client.set_registered_model_alias(version.name, alias, version.version)
    except MlflowException as exc:
        raise RegistryError(f"the registry at {version.server} refused: {exc.message}") from None
    return before
