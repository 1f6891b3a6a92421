"""`modeleval export`: runs, suites, outcomes, gates and promotions as JSON or CSV, for dashboards and notebooks."""

from __future__ import annotations

import csv
import io
import json
import sys

from .common import CLIError, add_db_argument, command, open_store, run_id

TABLES = ("runs", "suites", "outcomes", "gates", "promotions")
_JSON_COLUMNS = {"runs": ("settings", "overrides"), "outcomes": ("metrics",), "gates": ("missing", "override")}


def add_parser(sub) -> None:
    parser = sub.add_parser("export", help="export runs and their outcomes and gates as JSON or CSV")
    parser.add_argument("runs", nargs="*", help="runs to export (N, run:N, latest, sha256:<prefix>; default all)")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="json (default) or csv")
    parser.add_argument("--table", choices=TABLES,
                        help="one table only (required for csv, which holds one table: e.g. --table outcomes)")
    parser.add_argument("-o", "--output", help="file to write (default: standard output)")
    add_db_argument(parser)
    parser.set_defaults(run=run)


@command("export")
def run(args) -> int:
    if args.format == "csv" and not args.table:
        raise CLIError("--format csv writes one table; add --table runs|suites|outcomes|gates|promotions")
    store = open_store(args)
    try:
        ids = [run_id(store.db, text) for text in args.runs] or None
        tables = [args.table] if args.table else list(TABLES)
        data = {table: rows(store.db, table, ids) for table in tables}
    finally:
        store.close()
    text = _csv(data[args.table]) if args.format == "csv" else json.dumps(
        data[args.table] if args.table else data, indent=2, default=str) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        counts = ", ".join(f"{len(v)} {k}" for k, v in data.items())
        print(f"modeleval export: wrote {counts} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def rows(db, table: str, ids: list[int] | None) -> list[dict]:
    """A table's rows for the chosen runs (promotions: those pointing at them), JSON columns decoded."""
    from ..results.transfer import table_rows

    out = table_rows(db, table, ids)
    for row in out:
        for name in _JSON_COLUMNS.get(table, ()):
            if row.get(name):
                row[name] = json.loads(row[name])
    return out


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    return buffer.getvalue()
