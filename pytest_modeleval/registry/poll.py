"""New versions of one registered model, found by polling with a cursor (`modeleval watch mlflow:NAME`).

Versions of a registered model are numbered 1, 2, 3, ... in the order they were created, so the cursor is the
highest version already taken: each poll asks for the READY versions above it, downloads each into the cache
(client.download) and moves the cursor past it. A version still registering stops the poll there, so it is taken
on a later poll, never skipped. The caller hashes the files and queues them: the queue's claims and leases decide
who evaluates a version, as for `modeleval watch DIR`.
"""

from __future__ import annotations

from pathlib import Path

from .client import ModelVersion, RegistryError, connect, download, versions_after

PREFIX = "mlflow:"


def watched_name(text: str) -> str | None:
    """NAME of `mlflow:NAME` (the watch command's form), else None."""
    if not text.startswith(PREFIX):
        return None
    name = text[len(PREFIX):]
    if not name or "@" in name or name.rsplit("/", 1)[-1].isdigit():
        raise RegistryError(f"watch a registered model by its name alone (mlflow:NAME), not {text!r}: every new "
                            "version is evaluated")
    return name


def ref_of(version: ModelVersion) -> str:
    """The reference the watcher's pytest gets: the version, pinned."""
    return f"{PREFIX}{version.name}/{version.version}"


def cursor_of(refs: list[str], name: str) -> int:
    """The highest version of `name` among references already queued (`mlflow:NAME/N`): where a restarted watcher
    picks up."""
    found = [int(ref.rsplit("/", 1)[1]) for ref in refs
             if ref.startswith(f"{PREFIX}{name}/") and ref.rsplit("/", 1)[1].isdigit()]
    return max(found, default=0)


class Poller:
    def __init__(self, name: str, uri: str, after: int = 0):
        self.name = name
        self.uri = uri
        self.cursor = after
        self.client = None
        self.problem: str | None = None  # why the last poll stopped early (a download that failed)

    def new(self) -> list[tuple[ModelVersion, Path]]:
        """The versions that appeared since the last poll, with their files (the cursor moves past each)."""
        self.client = self.client or connect(self.uri)
        self.problem = None
        found = []
        for version in versions_after(self.client, self.name, self.cursor, self.uri):
            try:
                found.append((version, download(version, self.client)))
            except RegistryError as exc:  # tried again on the next poll: the cursor stays before it
                self.problem = str(exc)
                break
            self.cursor = int(version.version)
        return found
