"""A small OpenAI-compatible HTTP server over an engine (the app behind `modeleval serve`).

It makes any local checkpoint reachable the way remote models are (so the `openai:`
engine can be tested against real completions), and lets other tools that speak the
OpenAI API evaluate the same weights. Standard library only: one engine thread takes
the requests waiting in a queue as one batch (micro-batching), so concurrent clients
share forward passes while the engine is only ever used from one thread.
"""

from __future__ import annotations

import concurrent.futures
import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 << 20  # bytes
ENGINE_WAIT = 600.0  # seconds a request waits for the engine before it is answered with a 503
SERVER_NAME = "modeleval-serve"


def make_server(app: "App", host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server whose handler answers through `app`."""
    handler = type("Handler", (_Handler,), {"app": app})
    return ThreadingHTTPServer((host, port), handler)


class BadRequest(Exception):
    """A client error: the HTTP status, the message, and the request field it is about."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.param = param
        self.status = status


# --- the engine thread -------------------------------------------------------------------------


class Batcher:
    """Runs every engine call on one thread; calls waiting in the queue are computed as one batch."""

    def __init__(self, engine, batch_size: int):
        self.engine = engine
        self.batch_size = batch_size
        self.jobs: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="modeleval-engine", daemon=True)
        self.thread.start()

    def submit(self, kind: str, payload) -> Future:
        """kind "generate" (a GenerateRequest) or "score" (a text for token_logprobs)."""
        future: Future = Future()
        self.jobs.put((kind, payload, future))
        return future

    def close(self) -> None:
        self.closed.set()

    def _loop(self) -> None:
        while not self.closed.is_set():
            try:
                first = self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            self._run("generate", [job for job in batch if job[0] == "generate"], self.engine.generate)
            self._run("score", [job for job in batch if job[0] == "score"], self.engine.token_logprobs)

    @staticmethod
    def _run(kind: str, jobs: list, compute) -> None:
        if not jobs:
            return
        try:
            results = compute([payload for _, payload, _ in jobs])
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure
            for _, _, future in jobs:
                future.set_exception(exc)
            return
        for (_, _, future), result in zip(jobs, results):
            future.set_result(result)


# --- the API -------------------------------------------------------------------------------------


class App:
    """The OpenAI API over one engine: request bodies in, response bodies out."""

    def __init__(self, engine, served_name: str, model_sha256: str, batch_size: int = 16):
        self.engine = engine
        self.served_name = served_name
        self.model_sha256 = model_sha256
        self.batcher = Batcher(engine, batch_size)
        self.version = _version(engine)

    def close(self) -> None:
        self.batcher.close()

    def models(self) -> dict:
        return {"object": "list", "data": [{
            "id": self.served_name, "object": "model", "created": 0, "owned_by": SERVER_NAME,
            "root": f"sha256:{self.model_sha256}", "max_model_len": self.engine.max_length}]}

    def completions(self, body: dict) -> dict:
        self._check_model(body)
        prompts = _prompts(body.get("prompt"))
        echo = _typed(body, "echo", bool, False)
        logprobs = _typed(body, "logprobs", int, None)
        request = _generate_request(body, default_max_tokens=16)
        if logprobs is not None and (logprobs < 0 or not (echo and request.max_tokens == 0)):
            raise BadRequest("logprobs is supported only for scoring a prompt: with echo=true and max_tokens=0",
                             "logprobs")
        for prompt in prompts:
            self._check_length(prompt, request.max_tokens, "prompt")
        if request.max_tokens == 0:
            completions = [""] * len(prompts)
        else:
            completions = self._generate([_replace_prompt(request, p) for p in prompts])
        scores = self._wait([self.batcher.submit("score", p) for p in prompts]) if logprobs is not None else None
        choices = [{"index": i, "text": (prompt if echo else "") + text,
                    "logprobs": _logprobs_field(scores[i]) if scores else None,
                    "finish_reason": self._finish_reason(text, request.max_tokens)}
                   for i, (prompt, text) in enumerate(zip(prompts, completions))]
        return self._response("text_completion", choices, prompts, completions)

    def chat_completions(self, body: dict) -> dict:
        self._check_model(body)
        messages = _messages(body.get("messages"))
        if body.get("logprobs"):
            raise BadRequest("logprobs is not supported for chat completions", "logprobs")
        request = _generate_request(body, default_max_tokens=256)
        prompt = self.engine.render(messages, chat=True)
        self._check_length(prompt, request.max_tokens, "messages")
        [text] = self._generate([_replace_prompt(request, prompt)])
        choices = [{"index": 0, "message": {"role": "assistant", "content": text},
                    "finish_reason": self._finish_reason(text, request.max_tokens)}]
        return self._response("chat.completion", choices, [prompt], [text])

    # --- helpers --------------------------------------------------------------------------------
    def _check_model(self, body: dict) -> None:
        name = body.get("model", self.served_name)
        if name != self.served_name:
            raise BadRequest(f"model {name!r} does not exist; this server serves {self.served_name!r}",
                             "model", status=404)

    def _check_length(self, prompt: str, max_tokens: int, param: str) -> None:
        tokens = self.engine.count_tokens(prompt)
        if tokens + max_tokens > self.engine.max_length:
            raise BadRequest(f"{param} has {tokens} tokens; with max_tokens={max_tokens} that exceeds the "
                             f"model's context length of {self.engine.max_length}", param)

    def _generate(self, requests: list) -> list[str]:
        return self._wait([self.batcher.submit("generate", r) for r in requests])

    @staticmethod
    def _wait(futures: list[Future]) -> list:
        return [future.result(timeout=ENGINE_WAIT) for future in futures]

    def _finish_reason(self, text: str, max_tokens: int) -> str:
        return "length" if max_tokens and self.engine.count_tokens(text) >= max_tokens else "stop"

    def _response(self, kind: str, choices: list, prompts: list[str], completions: list[str]) -> dict:
        prompt_tokens = sum(self.engine.count_tokens(p) for p in prompts)
        completion_tokens = sum(self.engine.count_tokens(c) for c in completions)
        prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                "model": self.served_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


def _version(engine) -> str:
    """What clients record as the engine version: this server's and the engine's."""
    from importlib import metadata

    try:
        own = metadata.version("pytest-modeleval")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return f"{SERVER_NAME}/{own} {engine.info.kind}/{engine.info.version}"


# --- request fields ------------------------------------------------------------------------------


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number"}


def _typed(body: dict, name: str, kind: type, default):
    """body[name] checked against a type (JSON true is not a number); default when absent or null."""
    value = body.get(name)
    if value is None:
        return default
    kinds = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kinds):
        raise BadRequest(f"{name} must be {_TYPE_NAMES[kind]}, got {json.dumps(value)}", name)
    return value


def _generate_request(body: dict, default_max_tokens: int):
    """A GenerateRequest template (empty prompt) from the sampling fields; OpenAI's defaults when absent."""
    from ..engines.base import GenerateRequest

    if _typed(body, "n", int, 1) != 1:
        raise BadRequest("only n=1 is supported", "n")
    max_tokens = _typed(body, "max_tokens", int, None)
    if max_tokens is None:
        max_tokens = _typed(body, "max_completion_tokens", int, default_max_tokens)
    temperature = float(_typed(body, "temperature", float, 1.0))
    top_p = float(_typed(body, "top_p", float, 1.0))
    checks = [(max_tokens >= 0, "max_tokens", "must be >= 0"), (0.0 <= temperature <= 2.0, "temperature",
              "must be between 0 and 2"), (0.0 < top_p <= 1.0, "top_p", "must be in (0, 1]")]
    for ok, name, rule in checks:
        if not ok:
            raise BadRequest(f"{name} {rule}, got {body.get(name)!r}", name)
    return GenerateRequest("", max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                           stop=_stop(body.get("stop")), seed=_typed(body, "seed", int, 0))


def _replace_prompt(template, prompt: str):
    from dataclasses import replace

    return replace(template, prompt=prompt)


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise BadRequest(f"stop must be a string or a list of strings, got {value!r}", "stop")


def _prompts(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return value
    raise BadRequest("prompt must be a string or a non-empty list of strings (token ids are not supported)",
                     "prompt")


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise BadRequest("messages must be a non-empty list of {role, content} objects", "messages")
    for index, message in enumerate(value):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            raise BadRequest(f"messages[{index}] must be an object with string role and content", "messages")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _logprobs_field(tokens) -> dict:
    """OpenAI's legacy completions logprobs: parallel lists, the top-1 token per position."""
    return {"tokens": [t.token for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [None if t.top_token is None else {t.top_token: t.top_logprob} for t in tokens],
            "text_offset": [t.offset for t in tokens]}


# --- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    app: App

    def do_GET(self):  # noqa: N802 - http.server's naming
        routes = {"/v1/models": self.app.models, "/version": lambda: {"version": self.app.version},
                  "/health": dict}
        self._answer(routes.get(self.path.rstrip("/")))

    def do_POST(self):  # noqa: N802
        routes = {"/v1/completions": self.app.completions, "/v1/chat/completions": self.app.chat_completions}
        route = routes.get(self.path.rstrip("/"))
        self._answer(None if route is None else lambda: route(self._body()))

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BadRequest(f"request body of {length} bytes is larger than {MAX_BODY}", None, status=413)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body

    def _answer(self, route) -> None:
        if route is None:
            return self._send(404, _error(f"no route {self.command} {self.path}", None, 404))
        try:
            self._send(200, route())
        except BadRequest as exc:
            self._send(exc.status, _error(str(exc), exc.param, exc.status))
        except (TimeoutError, concurrent.futures.TimeoutError):
            self._send(503, _error("the engine did not answer in time", None, 503))
        except Exception as exc:  # noqa: BLE001 - an engine failure is the server's error, not the client's
            self._send(500, _error(f"{type(exc).__name__}: {exc}", None, 500))

    def _send(self, status: int, body: dict) -> None:
        """The JSON answer; after an error the connection closes, since the body may be unread."""
        data = json.dumps(body).encode()
        self.close_connection = self.close_connection or status != 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - quiet: one line per request is noise here
        pass


def _error(message: str, param: str | None, status: int) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": HTTPStatus(status).phrase}}
