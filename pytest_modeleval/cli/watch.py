"""`modeleval watch DIR -- <pytest args>`: continuous eval, one pytest run per new checkpoint in DIR.

A checkpoint is what `--eval-registry` means by one: a `.gguf` file or an HF-format directory
(with config.json) directly in DIR; dot-names are skipped. Each is identified by its content
hash, so a checkpoint copied or renamed is not evaluated twice, and one whose files change is a
new checkpoint. The queue is the `watch_queue` table of the results DB: a checkpoint is queued
once, claimed by one watcher, and marked done with its run's id and exit status. A watcher that
crashes or is killed leaves its row `running` with the pid of the pytest it started; the next
watcher sees that pid gone and either adopts the run that process managed to record or queues
the checkpoint again (the prediction cache makes the rerun cheap). Watchers on several machines
sharing one PostgreSQL DB claim each checkpoint with one conditional UPDATE (exactly one wins) and
hold it by a lease they renew while their pytest runs; a pid means nothing on another machine, so a
claim whose lease ran out (`--lease`, default 120 s) is what another watcher takes over.

Checkpoints still being written are skipped until none of their files has changed for
`--settle` seconds; writing into DIR by rename (or `mv` from the same filesystem) avoids the wait.

`modeleval watch mlflow:NAME` watches a registered model of an MLflow registry instead (registry/poll.py): each
new version, found by polling with a cursor (and at once when MLflow's registry webhook calls `--webhook`, its
signature checked by registry/webhook.py), is downloaded, hashed and queued in the same table with the reference
`mlflow:NAME/VERSION`, so the same claims and leases keep several watchers from evaluating it twice.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..dburl import is_url
from ..results import watch_queue as queue
from ..results.runs import newest_id
from ..util.process import alive
from .common import CLIError, add_db_argument, command, db_path

LEASE_SECONDS = 120.0  # renewed every third of it while the pytest runs
FINISHED = (0, 10)  # pytest passed, or the gates failed: the checkpoint was evaluated either way
WEBHOOK_SECRET_ENV = "MODELEVAL_WEBHOOK_SECRET"  # never an argument: a command line is visible to every user


def add_parser(sub) -> None:
    parser = sub.add_parser("watch", help="evaluate every new checkpoint that appears in a directory or an MLflow "
                                          "registered model", usage="modeleval watch DIR|mlflow:NAME [options] -- "
                                                                    "<pytest args>")
    parser.add_argument("directory", metavar="DIR|mlflow:NAME",
                        help="directory the checkpoints appear in, or mlflow:NAME, a registered model whose new "
                             "versions are evaluated")
    parser.add_argument("--mlflow", metavar="URI", help="mlflow:NAME: the tracking server (default: "
                                                        "MLFLOW_TRACKING_URI, else `mlflow` in [tool.modeleval])")
    parser.add_argument("--webhook", metavar="HOST:PORT",
                        help="mlflow:NAME: also listen here for MLflow's registry webhook (model_version.created), "
                             f"deliveries signed with the secret in {WEBHOOK_SECRET_ENV}; a delivery triggers a poll")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between scans (default 30)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="skip a checkpoint until its files are this many seconds old (default 30)")
    parser.add_argument("--once", action="store_true", help="scan once, evaluate everything queued, then exit")
    parser.add_argument("--max-attempts", type=int, default=3,
                        help="times a checkpoint whose pytest died is tried before it is marked failed (default 3)")
    parser.add_argument("--retry-failed", action="store_true", help="queue the failed checkpoints again first")
    parser.add_argument("--lease", type=float, default=LEASE_SECONDS,
                        help="seconds a claim lasts unless its watcher renews it; a watcher on another machine "
                             f"takes over a checkpoint whose lease ran out (default {LEASE_SECONDS:g})")
    add_db_argument(parser)
    # the arguments after `--` (split off by cli.main): pytest's, to which --model and --eval-db are added
    parser.set_defaults(run=run, passthrough=[])


@command("watch")
def run(args) -> int:
    source = _source(args)
    for arg in args.passthrough:
        if arg.split("=")[0] in ("--model", "--eval-db"):
            raise CLIError(f"do not pass {arg.split('=')[0]} after --: the watcher sets --model per checkpoint, "
                           "and --eval-db to its own database (--db)")
    watcher = Watcher(db_path(args), source, args.passthrough, settle=args.settle,
                      max_attempts=args.max_attempts, lease=args.lease)
    endpoint = None
    try:
        if args.webhook:
            endpoint = _endpoint(args, watcher)
        if args.retry_failed:
            watcher.retry_failed()
        while True:
            watcher.recover()
            watcher.scan()
            while watcher.run_next():
                pass
            if args.once:
                return 0
            watcher.wait(args.interval)
    except KeyboardInterrupt:
        return 130
    finally:
        if endpoint is not None:
            endpoint.close()
        watcher.close()


def _source(args):
    """What is watched: a directory, or a registered model (mlflow:NAME) on a tracking server."""
    if not str(args.directory).startswith("mlflow:"):
        if args.webhook:
            raise CLIError("--webhook is for mlflow:NAME (MLflow's registry webhook)")
        directory = Path(args.directory)
        if not directory.is_dir():
            raise CLIError(f"{directory} is not a directory")
        return directory
    from ..registry.client import RegistryError, tracking_uri
    from ..registry.poll import watched_name
    from .common import settings

    try:
        name = watched_name(args.directory)
        uri = tracking_uri(args.mlflow or settings().mlflow)
    except RegistryError as exc:
        raise CLIError(str(exc)) from None
    return RegistrySource(str(name), uri)


def _endpoint(args, watcher: Watcher):
    from ..registry.webhook import Endpoint, Verifier

    if not isinstance(watcher.source, RegistrySource):
        raise CLIError("--webhook is for mlflow:NAME (MLflow's registry webhook)")
    secret = os.environ.get(WEBHOOK_SECRET_ENV)
    if not secret:
        raise CLIError(f"--webhook needs the webhook's secret in {WEBHOOK_SECRET_ENV} (the one given to MLflow's "
                       "create_webhook): unsigned deliveries are refused")
    host, _, port = args.webhook.rpartition(":")
    if not host or not port.isdigit():
        raise CLIError(f"--webhook {args.webhook}: expected HOST:PORT, e.g. 127.0.0.1:8765")

    def woken(event: str) -> None:
        watcher.say(f"webhook: {event}; polling now")
        watcher.wake()

    try:
        endpoint = Endpoint(host, int(port), Verifier(secret), watcher.source.name, woken, say=watcher.say).start()
    except OSError as exc:
        raise CLIError(f"--webhook {args.webhook}: cannot listen there: {exc.strerror or exc}") from None
    watcher.say(f"listening for MLflow's registry webhook on http://{args.webhook}/")
    return endpoint


class RegistrySource:
    """New versions of one registered model: polled with a cursor (registry/poll.py), queued as mlflow:NAME/N."""

    def __init__(self, name: str, uri: str):
        from ..registry.poll import Poller

        self.name = name
        self.uri = uri
        self.poller = Poller(name, uri)
        self.started = False

    def found(self, db, say) -> list[tuple[str, Path, str]]:
        """(label, files, reference) of each new version."""
        from ..registry.client import RegistryError
        from ..registry.poll import cursor_of, ref_of

        if not self.started:  # a restarted watcher picks up after the versions already queued
            self.poller.cursor = cursor_of(queue.paths(db, f"mlflow:{self.name}/"), self.name)
            self.started = True
        try:
            versions = self.poller.new()
        except RegistryError as exc:
            say(f"polling {self.name}: {exc}")
            return []
        if self.poller.problem:
            say(f"polling {self.name}: {self.poller.problem}; trying again on the next poll")
        return [(f"{self.name} version {v.version}", path, ref_of(v)) for v, path in versions]

    def gone(self, where: str) -> bool:
        return False  # a registered version stays; pytest names one that was deleted

    def env(self) -> dict:
        return {"MLFLOW_TRACKING_URI": self.uri}  # the environment, not the process list: it may hold a password


class Watcher:
    def __init__(self, db: Path, directory, pytest_args: list[str], *, settle: float = 30.0,
                 max_attempts: int = 3, python: str = sys.executable, lease: float = LEASE_SECONDS):
        from ..results.store import Store

        self.db_path = db if is_url(str(db)) else Path(db).absolute()
        self.store = Store(self.db_path)
        self.db = self.store.db
        self.source = directory  # a directory, or a RegistrySource (mlflow:NAME)
        self.directory = directory if isinstance(directory, Path) else None
        self.woken = threading.Event()  # set by the webhook endpoint: poll now
        self.pytest_args = list(pytest_args)
        self.settle = settle
        self.max_attempts = max_attempts
        self.python = python
        self.lease = lease
        self.host = socket.gethostname()

    def close(self) -> None:
        self.store.close()

    def say(self, text: str) -> None:
        print(f"modeleval watch: {text}", flush=True)

    def wait(self, seconds: float) -> None:
        """Until the next poll: `seconds`, or less when the webhook wakes the watcher."""
        self.woken.wait(seconds)
        self.woken.clear()

    def wake(self) -> None:
        self.woken.set()

    # --- the queue ------------------------------------------------------------------------------
    def scan(self) -> list[str]:
        """Queue every settled checkpoint in the directory whose hash is not in the queue yet."""
        from ..modelref import ModelRefError, content_hash

        if isinstance(self.source, RegistrySource):
            return self._scan_registry(content_hash, ModelRefError)
        queued = []
        for path in self.checkpoints():
            try:
                digest = content_hash(path)
            except (ModelRefError, OSError) as exc:
                self.say(f"skipping {path.name}: {exc}")
                continue
            if queue.enqueue(self.db, digest, str(path.absolute())):
                queued.append(digest)
                self.say(f"queued {path.name} sha256:{digest[:12]}")
        return queued

    def _scan_registry(self, content_hash, hash_error) -> list[str]:
        """Queue each new version of the watched model by the hash of its files (a version whose files are an
        earlier version's is that checkpoint: not evaluated again)."""
        queued = []
        for label, path, ref in self.source.found(self.db, self.say):
            try:
                digest = content_hash(path)
            except (hash_error, OSError) as exc:
                self.say(f"skipping {label}: {exc}")
                continue
            if queue.enqueue(self.db, digest, ref):
                queued.append(digest)
                self.say(f"queued {label} sha256:{digest[:12]}")
            else:
                self.say(f"{label} sha256:{digest[:12]} is a checkpoint already queued; not evaluated again")
        return queued

    def checkpoints(self) -> list[Path]:
        if self.directory is None:
            return []
        found = []
        cutoff = time.time() - self.settle
        for entry in sorted(self.directory.iterdir()):
            if entry.name.startswith("."):
                continue
            is_gguf = entry.is_file() and entry.suffix.lower() == ".gguf"
            if not (is_gguf or (entry.is_dir() and (entry / "config.json").is_file())):
                continue
            files = [entry] if is_gguf else [p for p in entry.iterdir() if p.is_file()]
            if max(p.stat().st_mtime for p in files) > cutoff:
                continue  # still being written, perhaps
            found.append(entry)
        return found

    def retry_failed(self) -> None:
        n = queue.requeue_failed(self.db)
        if n:
            self.say(f"queued {n} failed checkpoints again")

    def recover(self) -> None:
        """Rows left `running` by a watcher that died: adopt the run its pytest recorded, or queue again."""
        for row in queue.running(self.db):
            if not self._stale(row):
                continue  # another watcher's pytest (or an orphan) is still at it
            finished = queue.recorded_run(self.db, row["model_hash"], row["started_at"] or "")
            if finished and finished["exit_status"] in FINISHED:
                self._finish(row, finished["exit_status"], finished["id"], "recorded by an interrupted watcher")
                continue
            status = "queued" if row["attempts"] < self.max_attempts else "failed"
            message = ("pytest died; queued again" if status == "queued"
                       else f"pytest died in each of {row['attempts']} attempts")
            if queue.take_over(self.db, row["id"], row["attempts"], status, message):
                self.say(f"sha256:{row['model_hash'][:12]}: {message}")

    def _stale(self, row: dict) -> bool:
        """A claim is dead when its lease ran out, or (on this machine) its pytest is gone."""
        if row.get("lease_until") is not None and float(row["lease_until"]) < time.time():
            return True
        if row.get("host") not in (None, self.host):
            return False  # another machine's pid means nothing here; its lease decides
        return not (row["pid"] and alive(row["pid"]))

    def run_next(self) -> bool:
        """Claim the oldest queued checkpoint and evaluate it; False when the queue is empty."""
        row = queue.next_queued(self.db)
        if row is None:
            return False
        if not queue.claim(self.db, row["id"], pid=os.getpid(), host=self.host, lease_until=time.time() + self.lease):
            return True  # another watcher took it; look again
        registry = isinstance(self.source, RegistrySource)
        path = Path(row["path"])
        if not registry and not path.exists():
            self._finish(row, None, None, f"{path} is gone", status="failed")
            return True
        model = row["path"] if registry else _shown(path)
        command = [self.python, "-m", "pytest", *self.pytest_args, f"--model={model}"]
        env = {**os.environ, **self.source.env()} if registry else None
        if is_url(str(self.db_path)):  # the URL's password travels in the environment, not the process list
            env = {**(env or os.environ), "MODELEVAL_DB": str(self.db_path)}
        else:
            command.append(f"--eval-db={_shown(self.db_path)}")
        name = row["path"] if registry else path.name
        self.say(f"evaluating {name} sha256:{row['model_hash'][:12]}: {' '.join(command[1:])}")
        process = subprocess.Popen(command, env=env)
        queue.set_pid(self.db, row["id"], process.pid)
        try:
            status = self._wait(process, row)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            queue.give_back(self.db, row["id"])
            raise
        run_id = newest_id(self.db, model_hash=row["model_hash"])
        message = {0: "passed", 10: "gates failed"}.get(status, f"pytest exit status {status}")
        self._finish(row, status, run_id, message, status="done" if status in FINISHED else "failed")
        return True

    def _wait(self, process, row: dict) -> int:
        """The pytest's exit status; meanwhile the claim's lease is renewed so no other watcher takes it."""
        while True:
            try:
                return process.wait(timeout=max(self.lease / 3, 0.1))
            except subprocess.TimeoutExpired:
                queue.renew(self.db, row["id"], time.time() + self.lease)

    def _finish(self, row: dict, exit_status, run_id, message: str, status: str = "done") -> None:
        queue.finish(self.db, row["id"], status, exit_status, run_id, message)
        run = f" (run {run_id})" if run_id else ""
        self.say(f"sha256:{row['model_hash'][:12]}: {status}{run}: {message}")


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it (what runs.model_ref records)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
