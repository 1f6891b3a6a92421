"""`modeleval db copy SRC DST`: a whole results history from one DB into another (SQLite <-> PostgreSQL).

Every table is copied with its ids, so runs keep their numbers and every row that names a run
(suites, outcomes, gates, promotions, overrides in the runs rows, judgments, validations, the variant
library, the watch queue ...) still names the same one: a team that started on one machine keeps its
production baseline and its promotion history. The target must hold no runs yet (a copy never
merges two histories); each table's row count is checked after the copy.
"""

from __future__ import annotations

from .common import CLIError, command


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
    from ..results.transfer import CopyError, copy_history

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
            counts = copy_history(source, target.db)
        except CopyError as exc:
            raise CLIError(str(exc)) from None
        finally:
            target.close()
    finally:
        source.close()
    copied = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    print(f"modeleval db copy: {source_label} -> {target_label}: {copied or 'no rows'}")
    return 0

