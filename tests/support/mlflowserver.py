"""A throwaway MLflow tracking server for the tests: `mlflow server` on a free loopback port, with a temporary
backend store (a SQLite file, or a database on the tests' PostgreSQL) and artifact root, stopped with its session.

The server runs in its own process group, so stopping it ends every process it started (uvicorn's workers, the
job runner). Webhook deliveries to loopback are allowed (MLflow refuses private addresses and plain http by
default), so the tests can receive MLflow's own signed deliveries.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    def __init__(self, backend: str | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="modeleval-mlflow-"))
        self.port = _free_port()
        self.backend = backend or f"sqlite:///{self.root / 'backend.sqlite'}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "MlflowServer":
        mlflow = Path(sys.executable).parent / "mlflow"
        env = {**os.environ, "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
               "MLFLOW_WEBHOOK_CACHE_TTL": "0"}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                 "--backend-store-uri", self.backend, "--artifacts-destination", str(self.root / "artifacts")],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}: {self.tail()}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {START_TIMEOUT:.0f} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        """The whole process group killed at once: a throwaway server has nothing to save, and a graceful shutdown
        of uvicorn and the job runner takes seconds."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start(backend: str | None = None) -> MlflowServer:
    return MlflowServer(backend).start()
