"""`modeleval report --html DIR | --serve`: the results DB as a dashboard (see pytest_modeleval.report)."""

from __future__ import annotations

from .common import CLIError, add_db_argument, command, db_path, open_store, project, run_id

DEFAULT_PORT = 8765


def add_parser(sub) -> None:
    report = sub.add_parser("report", help="a dashboard of the results database: static pages (--html DIR) that open "
                                           "from file://, or served on this machine (--serve)")
    report.add_argument("--html", metavar="DIR", help="write the dashboard into DIR (created; a directory an earlier "
                                                      "report wrote is replaced, any other non-empty one refused)")
    report.add_argument("--serve", action="store_true", help="serve the dashboard over HTTP, writing it again when "
                                                             "the database changes and comparing any two runs on request")
    report.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port for --serve (default {DEFAULT_PORT}; "
                                                                        "0 for any free port)")
    report.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1, this machine only)")
    report.add_argument("--compare", nargs=2, action="append", metavar=("RUN_A", "RUN_B"),
                        help="also compare these two runs (repeatable); each run is always compared with the one "
                             "before it and with its gates' baseline")
    report.add_argument("--item-runs", type=int, default=0, metavar="N",
                        help="write item-level data (drill-down) for the newest N runs only (default 0: every run)")
    add_db_argument(report)
    report.set_defaults(run=report_command)


@command("report")
def report_command(args) -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from ..dburl import redact
    from ..report import ReportError
    from ..results.runs import count

    if not args.html and not args.serve:
        raise CLIError("say what to do: --html DIR writes the dashboard, --serve serves it (both: serve DIR)")
    if args.item_runs < 0:
        raise CLIError(f"--item-runs must be 0 (every run) or a positive number of runs, got {args.item_runs}")
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {args.port}")
    from ..gates import rules

    correction = rules.from_project(project()).correction  # comparisons as `modeleval compare` adjusts them
    path = db_path(args)
    label = redact(str(path))  # what the pages and messages call the DB: never its password
    store = open_store(args)
    try:
        if not count(store.db):
            raise CLIError(f"results database {label} holds no runs: nothing to report (a pytest run with --model "
                           "records one)")
        pairs = [(run_id(store.db, a), run_id(store.db, b)) for a, b in args.compare or []]
    finally:
        store.close()
    temporary = not args.html
    out = Path(args.html) if args.html else Path(tempfile.mkdtemp(prefix="modeleval-report-"))
    try:
        from ..report.server import LiveDashboard

        live = LiveDashboard(path, out, db_label=label, pairs=pairs, item_runs=args.item_runs, correction=correction)
        result = live.refresh()
        print(f"modeleval report: {_count(result.runs, 'run')}, {_count(result.suites, 'suite')}, item data for "
              f"{_count(result.item_runs, 'run')}, {_count(result.pairs, 'run comparison')}: "
              f"{_count(result.files, 'data file')}, {result.bytes / 1e6:.1f} MB, written in {result.seconds:.1f} s "
              f"to {out}")
        if not args.serve:
            print(f"open {out / 'index.html'} in a browser (no server needed)")
            return 0
        return _serve(live, args.host, args.port)
    except ReportError as exc:
        raise CLIError(str(exc)) from None
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _serve(live, host: str, port: int) -> int:
    import signal
    import sys

    from ..report.server import make_server

    server = make_server(live, host, port)
    # a plain `kill` ends the server like Ctrl-C does, so the temporary directory is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
