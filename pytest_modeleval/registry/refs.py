"""The text of a registry reference: `mlflow:NAME@ALIAS`, `mlflow:NAME/VERSION` and MLflow's own `models:/...`.

Parsing only, with the standard library: whether the name, version or alias exists is the server's to say
(client.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIXES = ("mlflow:", "models:/")
FORMS = "mlflow:NAME@ALIAS, mlflow:NAME/VERSION, models:/NAME@ALIAS or models:/NAME/VERSION"
_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # MLflow's own rule for alias names
_VERSION = re.compile(r"^[1-9][0-9]*$")


@dataclass(frozen=True)
class RegistryRef:
    """A registered model and either one version or an alias that points at one."""

    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def label(self) -> str:
        """`NAME@ALIAS` or `NAME/VERSION`, as MLflow's `models:/` URIs spell them."""
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def is_registry_ref(text: str) -> bool:
    return text.strip().startswith(PREFIXES)


def parse(text: str) -> RegistryRef:
    """The reference, or ValueError saying what is wrong with it (the caller names the reference)."""
    text = text.strip()
    body = next((text[len(p):] for p in PREFIXES if text.startswith(p)), None)
    if body is None:
        raise ValueError(f"not a registry reference (expected {FORMS})")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if not _ALIAS.match(alias):
            raise ValueError(f"invalid alias {alias!r} (letters, digits, '_' and '-'; expected {FORMS})")
        return RegistryRef(_name(name), alias=alias)
    name, slash, version = body.rpartition("/")
    if not slash:
        raise ValueError(f"no version or alias after the model name {body!r} (expected {FORMS}); a bare name would "
                         "follow whatever is newest, so pin a version or name an alias")
    if not _VERSION.match(version):
        hint = " (name an alias instead: models:/NAME@ALIAS)" if version in ("latest", "production", "staging") else ""
        raise ValueError(f"invalid version {version!r}: a version is a positive whole number{hint}")
    return RegistryRef(_name(name), version=version)


def _name(name: str) -> str:
    if not name.strip() or name != name.strip():
        raise ValueError(f"invalid registered model name {name!r} (expected {FORMS})")
    return name
