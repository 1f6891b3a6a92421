"""`modeleval promote MODEL --channel production`: point a channel at a checkpoint that passed its gates.

The newest promotion to `production` is the baseline every later run is gated against, so
promotion checks the checkpoint's last run: it must have finished, without errors, with gates on,
and its gates must have passed, or each failed gate must be covered by an override in the
committed overrides file (the spec's "manual override requires a PR with a justification").

A model from an MLflow registry (`mlflow:NAME@ALIAS`, `mlflow:NAME/VERSION`, `models:/...`) is checked the same way,
by the hash of its files; when the checks pass, the promotion is recorded here first (the source of truth) and then
the registry's alias of the channel's name (or `--alias`) is moved to the version, tagged with who moved it and why.
A refused promotion leaves the alias where it was.
"""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

from .. import paths
from ..results import gating
from ..results.runs import newest_of
from ..results.store import now
from .common import CLIError, add_db_argument, command, open_store, project, settings


def add_parser(sub) -> None:
    parser = sub.add_parser("promote", help="promote a checkpoint to a channel (production is the gates' baseline)")
    parser.add_argument("model", help="sha256:<hash or prefix> of an evaluated checkpoint, or a model reference "
                                      "(a path, embedded)")
    parser.add_argument("--channel", default="production", help="channel to promote to (default production)")
    parser.add_argument("--by", help="who promotes (default: git user.email, else the login name)")
    parser.add_argument("--note", help="free text stored with the promotion")
    parser.add_argument("--alias", help="for an mlflow: model, the registry alias to move to the version (default: the "
                                        "channel's name, e.g. production)")
    parser.add_argument("--overrides", help="overrides file (default: the project's, "
                                            f"{paths.OVERRIDES_FILE.as_posix()})")
    add_db_argument(parser)
    parser.set_defaults(run=run)


@command("promote")
def run(args) -> int:
    store = open_store(args)
    try:
        db = store.db
        model_hash, version = _model_hash(db, args.model)
        last = newest_of(db, model_hash)
        if last is None:
            raise CLIError(f"sha256:{model_hash[:12]} has no run in {store.label}; evaluate it first", status=1)
        try:
            used = _check(db, last, args)
        except CLIError as exc:
            if version is None:
                raise
            raise CLIError(f"{exc}\nmlflow: @{_alias(args)} of {version.name} was not moved (version {version.version} "
                           "is not promoted)", status=exc.status) from None
        current = gating.latest_promotion(db, args.channel)
        if current and current["model_hash"] == model_hash and current["run_id"] == last["id"]:
            print(f"sha256:{model_hash[:12]} (run {last['id']}) is already the current {args.channel} checkpoint")
            return _move_alias(args, version, last, current["id"], current["by"]) if version is not None else 0
        note = args.note or ""
        if used:
            note = (note + "; " if note else "") + "overrides: " + json.dumps([o.record() for o in used])
        if version is not None:
            note = (note + "; " if note else "") + f"mlflow {version.name} version {version.version} @{_alias(args)}"
        by = args.by or _who()
        pid = gating.add_promotion(db, {"model_hash": model_hash, "channel": args.channel, "run_id": last["id"],
                                        "promoted_at": now(), "by": by, "note": note or None})
    finally:
        store.close()
    previous = f" (was sha256:{current['model_hash'][:12]}, run {current['run_id']})" if current else ""
    print(f"promoted sha256:{model_hash[:12]} (run {last['id']}) to {args.channel}{previous}; promotion {pid}")
    for override in used:
        print(f"  with override #{override.entry}: {override.describe()}")
    partial = []
    if last.get("eval_limit"):
        partial.append(f"--eval-limit {last['eval_limit']}")
    if last.get("shard") and not last["shard"].startswith("merged"):
        partial.append(f"--eval-shard {last['shard']}")
    if partial:
        print(f"  note: run {last['id']} evaluated part of each suite ({', '.join(partial)}); "
              "later runs are compared on its items only")
    return _move_alias(args, version, last, pid, by) if version is not None else 0


def _model_hash(db, text: str):
    """The checkpoint's hash, and the registry version when the text names one (else None)."""
    from ..gates.baseline import model_hash_for

    if text.startswith("sha256:"):
        return model_hash_for(db, text, "promote"), None
    from ..modelref import ModelRefError, resolve

    s = settings()
    try:
        resolved = resolve(text, registry=s.registry, base_dir=Path.cwd(), mlflow_uri=s.mlflow)
    except ModelRefError as exc:
        raise CLIError(str(exc)) from None
    return resolved.sha256, resolved.registry


def _alias(args) -> str:
    return args.alias or args.channel


def _move_alias(args, version, run: dict, promotion: int, by: str) -> int:
    """The registry's alias moved to the promoted version, after the results DB recorded the promotion; a move that
    fails is said, with the way to finish it (promoting again moves the alias of a promotion already recorded)."""
    from ..registry.aliases import move
    from ..registry.client import RegistryError

    alias = _alias(args)
    try:
        before = move(version, alias, {"modeleval.promoted_by": by, "modeleval.promotion": str(promotion),
                                       f"modeleval.{alias}_run": str(run["id"])})
    except RegistryError as exc:
        raise CLIError(f"recorded as promotion {promotion} in the results DB, but the MLflow alias @{alias} of "
                       f"{version.name} was not moved to version {version.version}: {exc}; run the same "
                       "`modeleval promote` again to move it", status=1) from None
    if before == version.version:
        print(f"mlflow: @{alias} of {version.name} already points at version {version.version}")
    else:
        was = f" (was version {before})" if before else ""
        print(f"mlflow: moved @{alias} of {version.name} to version {version.version}{was} on {version.server}")
    return 0


def _check(db, run: dict, args) -> list:
    """Why the checkpoint's last run does not allow promotion (a CLIError), or the overrides it needs."""
    where = f"sha256:{run['model_hash'][:12]}'s last run, run {run['id']},"
    if run["ended_at"] is None:
        raise CLIError(f"{where} did not finish (still running, or killed); evaluate it again", status=1)
    if run["exit_status"] not in (0, 10):
        raise CLIError(f"{where} ended with exit status {run['exit_status']} (errors or failed tests): its "
                       "evaluation is incomplete", status=1)
    if not run.get("gate_status"):
        raise CLIError(f"{where} has no gate verdicts (gates were off, or no eval test ran)", status=1)
    _check_reviewed(run, where)
    if run["gate_status"] != "failed":
        return []
    failed = gating.failed_gates(db, run["id"])
    overrides = _overrides(args)
    used, uncovered = [], []
    for gate in failed:
        override = overrides.find(run["model_hash"], gate["gate"], gate["suite"]) if overrides else None
        if override is None:
            uncovered.append(gate)
        elif override not in used:
            used.append(override)
    if uncovered:
        lines = "\n".join(f"  {g['gate']}[{g['suite']}]: {g['message']}" for g in uncovered)
        hint = ""
        if overrides is not None and overrides.entries and not overrides.honoured:
            hint = f"\n{overrides.path.name} is ignored: {overrides.why_ignored()}"
        raise CLIError(f"refusing: {where} failed {len(uncovered)} gate(s) that no committed override covers:\n"
                       f"{lines}{hint}\nto promote anyway, add an [[override]] (model, gate, suite, reason, approver, "
                       "expires) to the overrides file in a reviewed commit", status=1)
    return used


def _check_reviewed(run: dict, where: str) -> None:
    """Refuse a run whose gate configuration or suite files were not the committed ones, unless the
    committed pyproject.toml allows it ([tool.modeleval.promotion] allow-unreviewed = true)."""
    from ..gates.reviewed import parse
    from ..util import gitfiles

    files = parse(run.get("unreviewed"))
    if not files:
        return
    read = project()
    if read.promotion["allow_unreviewed"]:
        if gitfiles.state(read.path, read.path.parent) == gitfiles.COMMITTED:
            print(f"note: {where} ran with files not as committed ({', '.join(files)}); promoted under "
                  f"{read.where('promotion')} allow-unreviewed")
            return
        raise CLIError(f"refusing: {where} ran with files not as committed: {', '.join(files)}; "
                       f"{read.where('promotion')} allow-unreviewed counts only in a committed {read.path.name}, "
                       "and this one is not", status=1)
    raise CLIError(f"refusing: {where} ran with gate configuration or suite files that were not the committed "
                   f"ones: {', '.join(files)}; its verdicts were not decided by reviewed files. Commit them and "
                   f"evaluate again (or allow it in a committed {read.where('promotion')}: allow-unreviewed = true)",
                   status=1)


def _overrides(args):
    from ..gates import overrides, rules

    read = project()
    path = Path(args.overrides) if args.overrides else settings(read).overrides
    names = rules.from_project(read).names
    return overrides.load(path, names, read.path.parent)


def _who() -> str:
    try:
        done = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True, timeout=10)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return getpass.getuser()
