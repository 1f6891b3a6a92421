"""Talking to an MLflow tracking server: which version a reference means, and its files in our cache.

`mlflow` is imported here, inside the functions, and nowhere else in the package but the other modules of this
one. Every error is a RegistryError that names the reference (the model, the version, the alias) and the server
with its password redacted (dburl.redact_text).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..dburl import redact_text
from ..paths import cache_dir
from .refs import RegistryRef

ENV_URI = "MLFLOW_TRACKING_URI"
INSTALL = "pip install 'pytest-modeleval[mlflow]'"
CACHE_SUBDIR = "mlflow"
COMPLETE = ".modeleval-complete"  # written last into a downloaded version: a directory without it is discarded


class RegistryError(Exception):
    """The registry could not answer, or answered that the model, version or alias does not exist."""


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, as the registry described it when the reference was resolved."""

    name: str
    version: str
    alias: str | None  # the alias it was found by, if any
    uri: str  # the tracking URI as given (may hold a password: never print it, use `server`)
    source: str = ""
    run_id: str | None = None
    model_id: str | None = None  # MLflow 3's logged model behind the version, if any
    created: int = 0  # creation_timestamp (ms): part of the cache key, so a recreated registry is not confused

    @property
    def server(self) -> str:
        return redact_text(self.uri)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}" + (f" (@{self.alias})" if self.alias else "")


def tracking_uri(explicit: str | None) -> str:
    """--eval-mlflow / `mlflow =` in [tool.modeleval] when given, else MLFLOW_TRACKING_URI."""
    uri = explicit or os.environ.get(ENV_URI)
    if not uri:
        raise RegistryError(f"no MLflow tracking server: set {ENV_URI} (or `mlflow = \"URI\"` in [tool.modeleval], "
                            "or --eval-mlflow URI)")
    return uri


def connect(uri: str) -> Any:
    """An MlflowClient for the tracking server and its model registry, after a quick check that it answers."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise RegistryError(f"mlflow: references need the mlflow package: {INSTALL}") from None
    _check_reachable(uri)
    _quiet()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _quiet() -> None:
    """MLflow's download bars and "View run at" lines would cut through pytest's output; we say what we did
    ourselves. A user who set either variable keeps their choice."""
    for name in ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        os.environ.setdefault(name, "false" if "PROGRESS" in name else "true")


def _check_reachable(uri: str) -> None:
    """An HTTP server that does not answer is named at once (MLflow's own client retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).close()  # noqa: S310 - the user's server
    except urllib.error.HTTPError:
        return  # it answered; a server behind a proxy may not serve /health
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryError(f"the MLflow tracking server {redact_text(uri)} does not answer: {reason}") from None


def find_version(ref: RegistryRef, uri: str, client: Any = None) -> ModelVersion:
    """The version a reference means now: an alias is looked up once, here, and never followed afterwards."""
    client = client or connect(uri)
    from mlflow.exceptions import MlflowException

    try:
        if ref.alias:
            mv = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            mv = client.get_model_version(ref.name, ref.version)
    except MlflowException as exc:
        raise RegistryError(_not_found(ref, uri, exc, client)) from None
    if str(getattr(mv, "status", "READY")) not in ("READY", "ModelVersionStatus.READY"):
        raise RegistryError(f"{ref.label} is version {mv.version}, whose registration is {mv.status}, not READY, "
                            f"on {redact_text(uri)}; evaluate it once MLflow has finished registering it")
    return _version(mv, ref.alias, uri)


def version_of(mv: Any, uri: str, alias: str | None = None) -> ModelVersion:
    return _version(mv, alias, uri)


def _version(mv: Any, alias: str | None, uri: str) -> ModelVersion:
    return ModelVersion(name=mv.name, version=str(mv.version), alias=alias, uri=uri, source=mv.source or "",
                        run_id=mv.run_id or None, model_id=getattr(mv, "model_id", None) or None,
                        created=int(mv.creation_timestamp or 0))


def _not_found(ref: RegistryRef, uri: str, exc: Exception, client: Any) -> str:
    """What does not exist, with what does: the model's versions and aliases, or the models."""
    server = redact_text(uri)
    code = getattr(exc, "error_code", "")
    missing = code == "RESOURCE_DOES_NOT_EXIST" or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc))
    if not missing:
        return f"the MLflow registry at {server} refused {ref.label}: {redact_text(str(exc))}"
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(ref.name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        known = ", ".join(names) if names else "none"
        return f"no registered model {ref.name!r} on {server} (registered models: {known})"
    aliases = ", ".join(f"@{a}" for a in sorted(getattr(model, "aliases", {}) or {})) or "none"
    versions = ", ".join(sorted((str(v.version) for v in client.search_model_versions(f"name='{_quoted(ref.name)}'")),
                                key=int)) or "none"
    what = f"alias @{ref.alias}" if ref.alias else f"version {ref.version}"
    return f"registered model {ref.name!r} has no {what} on {server} (its aliases: {aliases}; its versions: {versions})"


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def versions_after(client: Any, name: str, after: int, uri: str) -> list[ModelVersion]:
    """The READY versions of a model newer than `after`, oldest first; stops before one still registering, so a
    cursor that advances over the result never skips it."""
    found = sorted(client.search_model_versions(f"name='{_quoted(name)}'"), key=lambda mv: int(mv.version))
    ready = []
    for mv in found:
        if int(mv.version) <= after:
            continue
        if str(mv.status) not in ("READY", "ModelVersionStatus.READY"):
            break
        ready.append(_version(mv, None, uri))
    return ready


# --- the version's files in our cache -----------------------------------------------------------------------


def download(version: ModelVersion, client: Any = None) -> Path:
    """The version's artifacts, downloaded once into the per-user cache; the model file or directory in them.

    A version's files do not change in MLflow, so (server, name, version, creation time) is a safe key. The copy
    is made in a temporary directory and renamed into place, so concurrent runs (xdist workers, two watchers)
    never see half a download.
    """
    target = _cache_path(version)
    if not (target / COMPLETE).is_file():
        client = client or connect(version.uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
        try:
            _fetch(version, client, tmp / "files")
            (tmp / "files" / COMPLETE).write_text(f"{version.name}/{version.version}\n", encoding="utf-8")
            try:
                os.replace(tmp / "files", target)
            except OSError:
                if not (target / COMPLETE).is_file():  # not another process's finished copy: a real failure
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(tmp / "files", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return locate(target, version)


def _cache_path(version: ModelVersion) -> Path:
    server = hashlib.sha256(redact_text(version.uri).encode("utf-8")).hexdigest()[:16]
    return cache_dir() / CACHE_SUBDIR / server / quote(version.name, safe="") / f"{version.version}-{version.created}"


def _fetch(version: ModelVersion, client: Any, dest: Path) -> None:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    dest.mkdir(parents=True)
    try:
        source = client.get_model_version_download_uri(version.name, version.version)
        got = Path(download_artifacts(artifact_uri=source, dst_path=str(dest), tracking_uri=version.uri))
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"the files of {version.label} could not be downloaded from {version.server}: "
                            f"{redact_text(str(exc))}") from None
    if got.is_file():  # a version whose source is one file
        return
    if got != dest:  # runs:/ID/model comes down as dest/model: its contents are the version's files
        for entry in got.iterdir():
            os.replace(entry, dest / entry.name)
        got.rmdir()


def locate(directory: Path, version: ModelVersion) -> Path:
    """The model in a version's files: the directory itself when it holds config.json (HF format), else its one
    .gguf file, else the same one level down (an MLflow flavor's `model/` or `data/` folder)."""
    for folder in [directory, *sorted(p for p in directory.iterdir() if p.is_dir())]:
        if (folder / "config.json").is_file():
            return folder
        ggufs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".gguf")
        if len(ggufs) == 1:
            return ggufs[0]
    listing = ", ".join(sorted(p.name for p in directory.iterdir() if p.name != COMPLETE)[:10]) or "nothing"
    raise RegistryError(f"{version.label} on {version.server} holds no model this plugin can load (an HF-format "
                        f"directory with config.json, or one .gguf file, at the top or one folder down); its files: "
                        f"{listing}")
