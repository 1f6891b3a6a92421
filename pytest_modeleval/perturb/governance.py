"""The audit record: a run's contamination result kept beside the checkpoint's registry entry.

Written once per audited run as `<registry>/.audits/<model sha256>/<audit id>-run<N>-<time>.json`
(next to the results DB, under `audits/`, when no registry is configured), created exclusively and
made read-only: an audit record is never overwritten, so the governance trail of a checkpoint only
grows. The registry ignores dot-directories when it looks checkpoints up.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path


def records_dir(settings) -> Path:
    """Beside the registry's checkpoints, else beside the results DB file (for a server's DB: beside the
    prediction cache file, else the project's state directory here (paths.AUDITS_DIR): a URL is never a directory)."""
    from ..dburl import local_path
    from ..paths import AUDITS_DIR

    if settings.registry:
        return Path(settings.registry) / ".audits"
    for target in (settings.db, settings.cache_db):
        path = local_path(target)
        if path is not None:
            return path.parent / "audits"
    return AUDITS_DIR


def write(directory: Path, audit, run: dict, suites: list[dict], gate: dict | None) -> Path:
    """Write the record for `run` (a runs row); returns its path."""
    model_hash = run["model_hash"]
    folder = directory / model_hash
    folder.mkdir(parents=True, exist_ok=True)
    finished = datetime.now(timezone.utc)
    record = {
        "audit_suite_id": audit.audit_id,
        "audit_config_sha256": audit.sha256,
        "audit_config": json.loads(audit.text),
        "model_version": f"sha256:{model_hash}", "model_ref": run["model_ref"], "run_id": run["id"],
        "started_at": run["started_at"], "finished_at": finished.isoformat(timespec="seconds"),
        "harness_version": run.get("harness_version"), "git_commit": run.get("git_commit"),
        "suites": suites, "gate": gate,
        "review_required": bool(run.get("review_required")), "review_reason": run.get("review_reason"),
        "audit_owner": audit.owner, "notify_on_failure": list(audit.notify),
        "retain_until": (finished + timedelta(days=audit.retention_days)).date().isoformat()
        if audit.retention_days else None,
    }
    stamp = finished.strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        path = folder / f"{audit.audit_id}-run{run['id']}-{stamp}{f'-{attempt}' if attempt else ''}.json"
        try:
            with open(path, "x", encoding="utf-8") as out:  # never replaces an existing record
                json.dump(record, out, indent=2, sort_keys=True, default=str)
                out.write("\n")
        except FileExistsError:
            continue
        os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        return path
    raise FileExistsError(f"{folder}: 100 audit records for run {run['id']} at {stamp} already exist")
