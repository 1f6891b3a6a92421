"""The `modeleval` command: tools around the pytest plugin (serve, cache, merge, runs, promote, watch, ...).

Each subcommand lives in its own module of this package, exposing `add_parser(subparsers)`, which sets
`run=<function(args) -> int>` as the parser default; modules keep heavy imports inside
their run functions so `modeleval --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("serve", "cache", "merge", "runs", "export", "gate", "promote", "prune",
               "watch", "judge", "human", "redteam", "report", "db", "parity", "comment",
               "contamination")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modeleval", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Arguments after `--` belong to the program a subcommand runs (`modeleval watch DIR -- <pytest args>`);
    # argparse's subparsers do not pass them on, so they are split off here.
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] | None = None
    if "--" in argv:
        argv, passthrough = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    from .common import begin

    begin()  # one command, one reading of pyproject.toml (common.project)
    parser = build_parser()
    args = parser.parse_args(argv)
    if passthrough is not None and not hasattr(args, "passthrough"):
        parser.error(f"modeleval {args.command} takes no arguments after --")
    if passthrough is not None:
        args.passthrough = passthrough
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
