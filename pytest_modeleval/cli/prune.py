"""`modeleval prune`: delete old runs, keeping every run of a checkpoint that was ever promoted.

The retention period comes from `[tool.modeleval.retention] days = N` in pyproject.toml, or
`--older-than-days N`. Promoted checkpoints' runs stay because they are baselines, past or
present, and the record of why a checkpoint shipped. An audited run also stays until its audit
configuration's `result_retention_days` have passed (governance's retention, not ours).
"""

from __future__ import annotations

import datetime

from .common import CLIError, add_db_argument, command, open_store, project


def add_parser(sub) -> None:
    parser = sub.add_parser("prune", help="delete runs older than the retention period (promoted checkpoints' "
                                          "runs are kept)")
    parser.add_argument("--older-than-days", type=float,
                        help="retention in days (default: days in [tool.modeleval.retention] of pyproject.toml)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    add_db_argument(parser)
    parser.set_defaults(run=run)


@command("prune")
def run(args) -> int:
    days = args.older_than_days
    if days is None:
        days = project().retention
    if days is None:
        raise CLIError("no retention period: set days in [tool.modeleval.retention] or pass --older-than-days N")
    if days < 0:
        raise CLIError(f"--older-than-days must be >= 0, got {days:g}")
    cutoff = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)).isoformat(timespec="seconds")
    from ..results import prune

    store = open_store(args)
    try:
        old = prune.unpromoted_before(store.db, cutoff)
        doomed = [r["id"] for r in old if not _audit_retained(r)]
        audited = len(old) - len(doomed)
        kept = prune.promoted_before(store.db, cutoff)
        if args.dry_run or not doomed:
            verb = "would delete" if args.dry_run else "deleted"
            print(f"modeleval prune: {verb} {len(doomed)} runs started before {cutoff}"
                  + (f": {_ids(doomed)}" if doomed else "") + f"; kept {kept} runs of promoted checkpoints"
                  + _audited(audited))
            return 0
        counts = prune.delete_runs(store.db, doomed)
    finally:
        store.close()
    print(f"modeleval prune: deleted {len(doomed)} runs started before {cutoff} ({_ids(doomed)}) with "
          f"{counts['outcomes']} outcomes and {counts['gates']} gate verdicts; kept {kept} runs of promoted checkpoints"
          + _audited(audited))
    return 0


def _audit_retained(run: dict) -> bool:
    """Whether an audited run is still inside its audit's result_retention_days."""
    import json

    if not run["audit_config"]:
        return False
    try:
        days = json.loads(run["audit_config"]).get("governance", {}).get("result_retention_days")
        started = datetime.datetime.fromisoformat(run["started_at"])
    except (ValueError, AttributeError, TypeError):
        return True  # an unreadable record is kept: deleting governance evidence needs a person
    if not days:
        return False
    return started + datetime.timedelta(days=days) > datetime.datetime.now(datetime.timezone.utc)


def _audited(n: int) -> str:
    return f" and {n} audited runs still inside their audit's result_retention_days" if n else ""


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:10])
    return f"runs {shown}" + (", ..." if len(ids) > 10 else "")
