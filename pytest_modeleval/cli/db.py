"""`modeleval db copy SRC DST`: a whole results history from one DB into another (SQLite <-> PostgreSQL).

Every table is copied with its ids, so runs keep their numbers and every row that names a run
(suites, outcomes, gates, promotions, overrides in the runs rows, judgments, validations, the variant
library, the watch queue ...) still names the same one: a team that started on one machine keeps its
production baseline and its promotion history. The target must hold no runs yet (a copy never
merges two histories); each table's row count is checked after the copy.
"""

from __future__ import annotations

from .common import CLIError, command

BATCH = 2000  # rows per INSERT batch


def add_parser(sub) -> None:
    parser = sub.add_parser("db", help="results database tools: copy a history between SQLite and PostgreSQL")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    copy = actions.add_parser("copy", help="copy every table of SRC into DST (a new or empty DB), ids kept")
    copy.add_argument("source", metavar="SRC", help="results database to read: a path or a postgresql:// URL")
    copy.add_argument("target", metavar="DST", help="results database to write: a path or a postgresql:// URL")
    copy.set_defaults(run=run_copy)


@command("db copy")
def run_copy(args) -> int:
    from ..dburl import redact
    from ..results.db import Database, exists
    from ..results.migrate import check
    from ..results.store import Store

    source_label, target_label = redact(args.source), redact(args.target)
    if not exists(args.source):
        raise CLIError(f"results database {source_label} does not exist")
    if str(args.source) == str(args.target):
        raise CLIError("SRC and DST are the same database")
    source = Database(args.source, readonly=True)  # read as it is: an older schema's missing columns stay empty
    try:
        check(source)  # a DB newer than this code is refused, not half-copied
        target = Store(args.target)
        try:
            counts = copy(source, target.db)
        finally:
            target.close()
    finally:
        source.close()
    copied = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    print(f"modeleval db copy: {source_label} -> {target_label}: {copied or 'no rows'}")
    return 0


def copy(source, target) -> dict[str, int]:
    """Every table of store.TABLES from one Database into another; rows per table."""
    from ..results.tables import TABLES

    held = next(target.query("SELECT COUNT(*) AS n FROM runs"))["n"]
    if held:
        raise CLIError(f"results database {target.label} already holds {held} runs: copy into a new or empty "
                       f"database (a copy never merges two histories)")
    present = source.columns()
    counts = {}
    with target.conn:
        for table, spec in TABLES.items():  # runs first: every other table names a run
            columns = [c for c in spec if c in present.get(table, ())]
            if not columns:
                counts[table] = 0
                continue
            quoted = ", ".join(f'"{c}"' for c in columns)
            cursor = source.execute(f"SELECT {quoted} FROM {table}")
            insert = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})"
            n = 0
            while rows := cursor.fetchmany(BATCH):
                target.executemany(insert, rows)
                n += len(rows)
            counts[table] = n
        target.reset_ids()
    for table, n in counts.items():
        found = next(target.query(f"SELECT COUNT(*) AS n FROM {table}"))["n"]
        if found != n:
            raise CLIError(f"{table}: {n} rows read from {source.label} but {found} in {target.label}")
    return counts
