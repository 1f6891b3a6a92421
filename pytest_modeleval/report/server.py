"""`modeleval report --serve`: the same static dashboard over HTTP on the loopback, for browsing while runs land.

Two things a static directory cannot do, done here on request: the pages are written again when
the results DB changed since they were (a new run shows up on reload), and the comparison of any
two runs is computed when a page asks for its data file (a static build holds only some pairs).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import ReportError, compare, site

COMPARE_PATH = re.compile(r"/data/compare/(\d+)-(\d+)\.js")


class LiveDashboard:
    """A dashboard directory kept in step with its DB; one build or comparison at a time."""

    def __init__(self, db_path: Path, out: Path, *, db_label: str, pairs=(), item_runs: int = 0,
                 correction: str = "holm"):
        from ..dburl import is_url

        self.db_path = db_path if is_url(str(db_path)) else Path(db_path)
        self.out, self.db_label = Path(out), db_label
        self.pairs, self.item_runs, self.correction = list(pairs), item_runs, correction
        self.lock = threading.Lock()
        self.signature = None
        self.last: site.BuildResult | None = None

    @contextlib.contextmanager
    def _reading(self):
        """The DB read-only for one build or comparison (results.db.reading opens and closes it): the server's
        own reads must not look like a change to the DB (or make one)."""
        from ..results.db import DatabaseError, exists, reading

        with contextlib.ExitStack() as stack:
            try:
                if not exists(self.db_path):
                    raise ReportError(f"results database {self.db_label} does not exist")
                db = stack.enter_context(reading(self.db_path, tables=()))
            except DatabaseError as exc:
                raise ReportError(str(exc)) from None
            yield db

    def _signature(self) -> tuple:
        from ..dburl import local_path
        from ..results.dashboard import changes

        if local_path(self.db_path) is not None:
            return db_signature(local_path(self.db_path))
        with self._reading() as db:
            return changes(db)

    def refresh(self) -> site.BuildResult | None:
        """Build again if the DB changed since the last build; the new result, or None when nothing changed."""
        with self.lock:
            signature = self._signature()
            if signature == self.signature:
                return None
            with self._reading() as db:
                self.last = site.build(db, self.out, db_label=self.db_label, pairs=self.pairs,
                                       item_runs=self.item_runs, correction=self.correction)
            self.signature = self._signature()
            return self.last

    def comparison(self, a: int, b: int) -> None:
        """Write data/compare/A-B.js for any two runs of the DB (ReportError for a run it does not hold)."""
        from ..results.runs import existing

        with self.lock:
            with self._reading() as db:
                known = existing(db, [a, b])
                for rid in (a, b):
                    if rid not in known:
                        raise ReportError(f"there is no run {rid} in {self.db_label}")
                site.DataWriter(self.out)(f"compare/{a}-{b}", compare.compare(
                    compare.RunValues(db, a), compare.RunValues(db, b), correction=self.correction))


def db_signature(path) -> tuple:
    """What changes when a run writes the DB (the file and its WAL): `--serve` rebuilds when it does."""
    out = []
    for candidate in (Path(path), Path(f"{path}-wal")):
        try:
            stat = candidate.stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class Handler(SimpleHTTPRequestHandler):
    """Static files from the dashboard directory, after the two on-request steps above."""

    def __init__(self, *args, live: LiveDashboard, **kwargs):
        self.live = live
        super().__init__(*args, directory=str(live.out), **kwargs)

    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        try:
            if path == "/" or path.endswith(".html"):
                result = self.live.refresh()
                if result is not None:
                    print(f"modeleval report: the results database changed; pages written again "
                          f"({result.runs} runs, {result.seconds:.1f} s)", file=sys.stderr)
            match = COMPARE_PATH.fullmatch(path)
            if match and not (self.live.out / path.lstrip("/")).is_file():
                self.live.comparison(int(match.group(1)), int(match.group(2)))
        except ReportError as exc:
            if match := COMPARE_PATH.fullmatch(path):
                return self._script(f"MODELEVAL.fail({json.dumps(f'compare/{match.group(1)}-{match.group(2)}')}, "
                                    f"{json.dumps(str(exc))});\n")
            self.send_error(500, str(exc))
            return None
        return super().do_GET()

    def _script(self, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a reload after a new run must not show the old data
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def make_server(live: LiveDashboard, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0: any free port; `server.server_address` tells which)."""
    try:
        return ThreadingHTTPServer((host, port), partial(Handler, live=live))
    except OSError as exc:
        raise ReportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
