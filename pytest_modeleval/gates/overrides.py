"""Gate overrides: a file committed in the suite repository, so that every override went through review.

The spec: "a manual override requires a PR with a justification". The file lists, per override,
the model hash, the gate, the reason, the approver and an expiry date. It is honoured only when its
bytes are its blob at HEAD of the repository that holds the suites (content hashes compared, so
`git update-index --assume-unchanged` hides nothing, and a file committed in some other repository
counts for nothing), so an override cannot be typed into a CI machine's checkout; otherwise it is
read (and checked) but ignored, and the summary says so (docs/gates.md, the threat model). Applied overrides are recorded with the run and printed.

    [[override]]
    model = "sha256:1f3a9c0e"          # the checkpoint, 8 to 64 hex characters
    gate = "no-regression"             # a rule name
    suite = "mmlu"                     # optional: every suite when absent
    reason = "MMLU drop is the tokenizer fix; accepted in PR #412"
    approver = "jane.doe"
    expires = 2026-07-01               # a TOML date; the override stops applying after that day
"""

from __future__ import annotations

import datetime
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, cast

from ..config import ConfigError
from ..util import gitfiles

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_HEX = re.compile(r"^[0-9a-f]{8,64}$")
_REQUIRED = ("model", "gate", "reason", "approver", "expires")
_KEYS = set(_REQUIRED) | {"suite"}


@dataclass(frozen=True)
class Override:
    model: str  # hex prefix, lowercase, without "sha256:"
    gate: str
    suite: str | None
    reason: str
    approver: str
    expires: datetime.date
    entry: int  # 1-based position in the file, for messages

    def expired(self, today: datetime.date) -> bool:
        return today > self.expires

    def covers(self, model_hash: str, gate: str, suite: str, today: datetime.date) -> bool:
        return (model_hash.startswith(self.model) and gate == self.gate and self.suite in (None, suite)
                and not self.expired(today))

    def record(self) -> dict:
        data = asdict(self)
        data["model"] = f"sha256:{self.model}"
        data["expires"] = self.expires.isoformat()
        return data

    def describe(self) -> str:
        where = f"[{self.suite}]" if self.suite else " (all suites)"
        return (f"{self.gate}{where} for sha256:{self.model[:12]}, approved by {self.approver} until "
                f"{self.expires.isoformat()}: {self.reason}")


# Whether the overrides file counts: only "honoured" (committed as it is, in the suites' repository) does.
OverrideStatus = Literal["absent", "honoured", "untracked", "modified", "no git", "other repository"]


@dataclass
class OverridesFile:
    path: Path
    status: OverrideStatus
    entries: list[Override] = field(default_factory=list)

    @property
    def honoured(self) -> bool:
        return self.status == "honoured"

    def find(self, model_hash: str, gate: str, suite: str, today: datetime.date | None = None) -> Override | None:
        """The honoured, unexpired override that covers this gate, if any."""
        if not self.honoured:
            return None
        today = today or datetime.date.today()
        return next((o for o in self.entries if o.covers(model_hash, gate, suite, today)), None)

    def for_model(self, model_hash: str) -> list[Override]:
        return [o for o in self.entries if model_hash.startswith(o.model)]

    def why_ignored(self) -> str:
        return {"untracked": "it is not committed to git (not in HEAD)",
                "modified": "it has uncommitted changes",
                "no git": "it is not in a git repository (or git is not installed)",
                "other repository": "it is committed in another git repository than the suites'"}.get(self.status, "")

    def record(self, applied: list[Override]) -> dict:
        return {"file": self.path.name, "status": self.status, "entries": len(self.entries),
                "applied": [o.record() for o in applied]}


def apply(report, overrides: OverridesFile | None, model_hash: str, today: datetime.date | None = None) -> list:
    """Turn each failed gate that an honoured override covers into `overridden`; the overrides used."""
    if overrides is None:
        return []
    applied: list[Override] = []
    today = today or datetime.date.today()
    for result in report.results:
        if result.verdict != "fail":
            continue
        override = overrides.find(model_hash, result.rule.name, result.suite, today)
        if override is not None:
            result.verdict = "overridden"
            result.override = override.record()
            if override not in applied:
                applied.append(override)
    return applied


def load(path: Path, gate_names: set[str] | None = None, repo: Path | None = None) -> OverridesFile:
    """Read and check the overrides file; ConfigError names the file, the entry and the key. `repo`: a
    directory in the repository holding the suites (the rootdir), the only one whose commits count."""
    path = Path(path)
    if not path.is_file():
        return OverridesFile(path, "absent")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"override"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}; write each override as an "
                          "[[override]] table")
    entries = data.get("override", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'override' must be an array of tables ([[override]])")
    overrides = [_entry(path, i, entry, gate_names) for i, entry in enumerate(entries, start=1)]
    return OverridesFile(path, git_status(path, repo), overrides)


def _entry(path: Path, number: int, entry, gate_names: set[str] | None) -> Override:
    where = f"{path}: [[override]] #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_KEYS))})")
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (every override needs "
                          f"{', '.join(_REQUIRED)})")
    for key in ("model", "gate", "reason", "approver", "suite"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise ConfigError(f"{where} {key}: expected non-empty text, got {entry[key]!r}")
    model = entry["model"].strip().lower().removeprefix("sha256:")
    if not _HEX.match(model):
        raise ConfigError(f"{where} model: expected sha256:<8 to 64 hex characters>, got {entry['model']!r}")
    if gate_names is not None and entry["gate"] not in gate_names:
        raise ConfigError(f"{where} gate: no gate named {entry['gate']!r} (gates: {', '.join(sorted(gate_names))})")
    expires = entry["expires"]
    if isinstance(expires, str):
        try:
            expires = datetime.date.fromisoformat(expires)
        except ValueError:
            raise ConfigError(f"{where} expires: expected a date (2026-07-01), got {entry['expires']!r}") from None
    if isinstance(expires, datetime.datetime):
        expires = expires.date()
    if not isinstance(expires, datetime.date):
        raise ConfigError(f"{where} expires: expected a date (2026-07-01), got {entry['expires']!r}")
    return Override(model, entry["gate"], entry.get("suite"), entry["reason"].strip(), entry["approver"].strip(),
                    expires, number)


def git_status(path: Path, repo: Path | None = None) -> OverrideStatus:
    """`honoured` when the file's bytes are its blob at HEAD (of `repo`'s repository, when given)."""
    found = gitfiles.state(path, repo)
    return "honoured" if found == gitfiles.COMMITTED else cast(OverrideStatus, found)
