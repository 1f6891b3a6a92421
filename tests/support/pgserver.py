"""A throwaway PostgreSQL server for the tests: one per test session, on a free loopback port.

Started with Debian's `initdb` / `pg_ctl` (scripts/install.sh installs the `postgresql` package) in a
temporary directory and stopped at the session's end. PostgreSQL refuses to run as root, and CI runs as
root, so there the server runs as the package's unprivileged `postgres` user. The server asks for a
password (scram-sha-256), so the tests see real credentials in their URLs and can check they never leak.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "modeleval"


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """`url(dbname)` is a SQLAlchemy/psycopg URL with the password in it; `create_database()` a fresh DB."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.password = secrets.token_hex(8)
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="modeleval-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_other_user = os.geteuid() == 0
        self._count = 0

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in argv]
        if self._as_other_user:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_other_user:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        done = self._run(self.bindir / "initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile,
                         "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} " \
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        done = self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")
        if done.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log[-2000:]}")
        return self

    def stop(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start() -> PostgresServer | None:
    """A running server, or None when this machine has no PostgreSQL binaries."""
    bindir = _bindir()
    return PostgresServer(bindir).start() if bindir else None
