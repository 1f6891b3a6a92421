"""`modeleval gate RUN`: the promotion gates of a recorded run, for runs no pytest session gated whole.

A run merged from `--eval-shard` machines (`modeleval merge`) was gated only slice by slice, each
shard against its part of the baseline; this gates the merged run as one, records the verdicts
like a session does, and exits 10 when a gate fails, so CI can block on it. Perturbed suites are
scored for contamination again over all their items (each shard scored only its own).
"""

from __future__ import annotations

from pathlib import Path

from .. import paths
from .common import CLIError, add_db_argument, command, open_store, project, run_id, settings


def add_parser(sub) -> None:
    parser = sub.add_parser("gate", help="compute and record the promotion gates of a recorded run "
                                         "(e.g. one merged from shards); exit status 10 when one fails")
    parser.add_argument("run_ref", metavar="RUN", help="N, run:N, latest, sha256:<prefix>, or group:ID (the union "
                                                       "of a run group's shards; refused while one is missing)")
    parser.add_argument("--baseline", help="sha256:<prefix>, run:N or channel:NAME (default channel:production)")
    parser.add_argument("--overrides", help="overrides file (default: the project's, "
                                            f"{paths.OVERRIDES_FILE.as_posix()})")
    add_db_argument(parser)
    parser.set_defaults(run=run)


@command("gate")
def run(args) -> int:
    from .. import config
    from ..builtin_features import builtin_features
    from ..gates import GATES_FAILED, overrides, rules
    from ..gates.regate import gate_recorded
    from ..gates.table import lines

    if args.baseline:
        option = next(o for o in config.OPTIONS if o.name == "baseline")
        try:
            option.parse(args.baseline)
        except ValueError as exc:
            raise CLIError(f"--baseline {args.baseline!r}: {exc}") from None
    read = project()
    gate_rules = rules.from_project(read)
    here = settings(read)
    overrides_file = overrides.load(Path(args.overrides) if args.overrides else here.overrides, gate_rules.names,
                                    read.path.parent)
    store = open_store(args)
    try:
        if args.run_ref.startswith("group:"):
            rid = _group_run(store, args.run_ref.removeprefix("group:"))
        else:
            rid = run_id(store.db, args.run_ref)
        report, feature_lines, run_record = gate_recorded(store, rid, args.baseline, gate_rules, overrides_file,
                                                          here, features=builtin_features())
    finally:
        store.close()
    status = GATES_FAILED if report.failed else 0
    print(f"modeleval gate: run {rid} (sha256:{run_record['model_hash'][:12]})")
    for line in feature_lines:  # what the features recomputed over the whole run (contamination's scores)
        print(line)
    for line in lines(report, overrides=overrides_file, model_hash=run_record["model_hash"], exit_status=status):
        print(line)
    return status


def _group_run(store, group: str) -> int:
    """The union run of a complete run group (built if no shard built it); refused with the missing shards."""
    from ..results.rungroup import RunGroup, RunGroupError, find_group

    try:
        members = RunGroup(store, find_group(store.db, group), group)
        rid = members.union()
    except RunGroupError as exc:
        raise CLIError(str(exc), status=1) from None
    print(f"modeleval gate: {members.describe()}: union run {rid}")
    return rid
