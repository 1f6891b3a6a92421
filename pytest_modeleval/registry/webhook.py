"""The endpoint MLflow's registry webhook calls when a model version is created: its signature checked, its event
turned into "look now".

MLflow 3 signs each delivery (mlflow/webhooks/delivery.py): `X-MLflow-Signature: v1,<base64 HMAC-SHA256>` over
`<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<body>` with the webhook's secret. A delivery is accepted only with a
valid signature, a timestamp within TOLERANCE of now (a replayed old delivery is refused) and a delivery id not
seen before. The endpoint never evaluates anything itself: an accepted `model_version.created` (or
`model_version_alias.created`) for the watched model wakes the watcher, which polls with its cursor, so a lost or
refused delivery delays a version until the next poll and never drops it, and claims stay the queue's.

Standard library only: the endpoint does not need mlflow installed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

SIGNATURE = "X-MLflow-Signature"
TIMESTAMP = "X-MLflow-Timestamp"
DELIVERY = "X-MLflow-Delivery-Id"
VERSION = "v1"
TOLERANCE = 300.0  # seconds a delivery's timestamp may differ from our clock
EVENTS = {("model_version", "created"), ("model_version_alias", "created")}
MAX_BODY = 1 << 20


class Refused(Exception):
    """Why a delivery was not accepted (said back to the sender with status 401 or 400)."""

    def __init__(self, reason: str, status: int = 401):
        super().__init__(reason)
        self.status = status


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The signature header MLflow sends for a body (what the tests sign a request with)."""
    content = f"{delivery_id}.{timestamp}.".encode("utf-8") + body
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


class Verifier:
    """Checks deliveries: signature, freshness, and each delivery id at most once."""

    def __init__(self, secret: str, *, tolerance: float = TOLERANCE, remember: int = 10_000):
        if not secret:
            raise ValueError("a webhook endpoint needs a secret: unsigned deliveries would let anyone queue runs")
        self.secret = secret
        self.tolerance = tolerance
        self.remember = remember
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()

    def check(self, headers, body: bytes, now: float | None = None) -> dict:
        """The delivery's JSON, or Refused."""
        delivery, stamp, signature = headers.get(DELIVERY), headers.get(TIMESTAMP), headers.get(SIGNATURE)
        if not (delivery and stamp and signature):
            raise Refused(f"unsigned delivery: {SIGNATURE}, {TIMESTAMP} and {DELIVERY} are required")
        expected = sign(self.secret, delivery, stamp, body)
        if not any(hmac.compare_digest(expected, part.strip()) for part in _signatures(signature)):
            raise Refused("bad signature (is the webhook's secret the one in MODELEVAL_WEBHOOK_SECRET?)")
        try:
            age = abs((now if now is not None else time.time()) - int(stamp))
        except ValueError:
            raise Refused(f"bad {TIMESTAMP} {stamp!r}") from None
        if age > self.tolerance:
            raise Refused(f"stale delivery: its timestamp is {age:.0f} s away from now (at most {self.tolerance:.0f})")
        with self.lock:
            if delivery in self.seen:
                raise Refused(f"delivery {delivery} was already received (a replay)")
            self.seen[delivery] = None
            while len(self.seen) > self.remember:
                self.seen.popitem(last=False)
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refused("the body is not JSON", status=400) from None
        if not isinstance(payload, dict):
            raise Refused("the body is not a JSON object", status=400)
        return payload


def _signatures(header: str) -> list[str]:
    """`v1,<sig>`, or several space-separated ones (a secret being rotated), as Standard Webhooks allows."""
    return [part for part in header.split() if part.startswith(f"{VERSION},")] or [header]


def event_for(payload: dict, name: str) -> str | None:
    """`NAME/VERSION` (or `NAME@ALIAS -> VERSION`) when the delivery announces a version of the watched model."""
    data = payload.get("data")
    if not isinstance(data, dict):
        data = {}
    if (payload.get("entity"), payload.get("action")) not in EVENTS or data.get("name") != name:
        return None
    alias = f"@{data['alias']} -> " if data.get("alias") else ""
    return f"{name} {alias}version {data.get('version')}"


class Endpoint:
    """A small HTTP server in a thread: POST a delivery to any path; `on_event(description)` for accepted events."""

    def __init__(self, host: str, port: int, verifier: Verifier, name: str, on_event: Callable[[str], None],
                 say: Callable[[str], None] = print):
        handler = _handler(verifier, name, on_event, say)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="modeleval-webhook", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> Endpoint:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(verifier: Verifier, name: str, on_event: Callable[[str], None], say: Callable[[str], None]):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, "body too large")
            body = self.rfile.read(length)
            try:
                payload = verifier.check(self.headers, body)
            except Refused as exc:
                say(f"webhook delivery refused from {self.client_address[0]}: {exc}")
                return self._answer(exc.status, str(exc))
            event = event_for(payload, name)
            if event is not None:
                on_event(event)
            return self._answer(200, "accepted" if event else "ignored: not a new version of " + name)

        def _answer(self, status: int, text: str) -> None:
            data = (text + "\n").encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet: the watcher says what matters
            pass

    return Handler
