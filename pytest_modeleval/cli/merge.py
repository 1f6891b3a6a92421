"""`modeleval merge`: combine the results DBs of shard machines into one run (results/merge.py)."""

from __future__ import annotations

from ..results.merge import MergeError


def add_parser(sub) -> None:
    parser = sub.add_parser("merge", help="merge shard results DBs into one run")
    parser.add_argument("output", help="results DB to write the merged run into (created if missing): a path or a "
                                       "postgresql:// URL")
    parser.add_argument("inputs", nargs="+", help="results DBs of the shards (the newest run of each), paths or URLs")
    parser.set_defaults(run=run)


def run(args) -> int:
    try:
        run_id, tallies = merge(args.output, args.inputs)
    except MergeError as exc:
        print(f"modeleval merge: {exc}")
        return 2
    from ..dburl import redact
    from ..results.summary import format_table

    print(f"modeleval merge: run {run_id} in {redact(args.output)} from {len(args.inputs)} shard DBs")
    for line in format_table(tallies):
        print(line)
    return 0


def merge(output, inputs: list) -> tuple[int, dict]:
    """The shards' newest runs as one run in `output`, with the features' figures (the judge's) recomputed
    over all its items (runtime/features.py `merged`)."""
    from ..builtin_features import builtin_features
    from ..results import merge as merging
    from ..results.store import Store
    from ..runtime.features import merged_figures
    from .common import settings

    run_id, tallies = merging.merge(output, inputs)
    store = Store(output)
    try:
        merged_figures(builtin_features(), store, run_id, settings())
    finally:
        store.close()
    return run_id, tallies
