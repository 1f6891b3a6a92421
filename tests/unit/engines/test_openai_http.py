"""The OpenAI-compatible engine against a real server: `modeleval serve` on loopback, serving
the embedded model, reached directly or through a fault-injecting proxy (500s, 429s with
Retry-After, answers slower than the client's timeout, connections dropped unanswered).

The server runs the same transformers engine as this process, so greedy completions must be
identical strings and loglikelihoods equal to rounding.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import evalkit  # noqa: F401  (loads the C extensions before any in-process run: see evalkit.py)

from pytest_modeleval import paths
from pytest_modeleval.engines import hf
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.engines.openai_http import CHAT_MARKER, OpenAIEngine
from pytest_modeleval.modelref import resolve

pytest.importorskip("torch")
pytest.importorskip("transformers")

# pytester points HOME at its temporary directory, which would move the plugin's cache (hash
# cache, converted weights) there and re-convert the model; keep the cache the user already has.
USER_CACHE = paths.cache_dir()
NAME = "smol"
READY = re.compile(r"modeleval serve: listening on (http://\S+/v1) \(model sha256:([0-9a-f]+)\)")
START_TIMEOUT = 90.0
PAIRS = [  # (context, continuation): true and corrupted continuations, one with lm-eval's moved space
    ("The capital of France is", " Paris"),
    ("The capital of France is ", "Paris"),
    ("The capital of France is", " banana"),
    ("1, 2, 3, 4,", " 5"),
    ("Monday, Tuesday,", " Wednesday"),
    ("Twinkle, twinkle, little", " star spoon"),
]
PROMPTS = ["The capital of France is", "1, 2, 3, 4,", "Once upon a time", "def add(a, b):"]



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`modeleval serve --port 0` in a subprocess: its base URL once it prints that it listens."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MODELEVAL_CACHE_DIR": str(USER_CACHE)}
    command = [sys.executable, "-m", "pytest_modeleval.cli", "serve", "--model", "embedded", "--port", "0",
               "--served-name", NAME, "--engine", "hf"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield _wait_until_listening(process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen, log) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = READY.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"modeleval serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    pytest.fail(f"modeleval serve did not listen within {START_TIMEOUT:g} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def local():
    """The same model in this process: the reference answers."""
    engine = hf.load(resolve("embedded"), batch_size=16)
    yield engine
    engine.batch_size = 16


def engine_for(*urls: str, **options) -> OpenAIEngine:
    options = {"timeout": 30.0, "backoff": 0.01, **options}
    return OpenAIEngine(resolve(f"openai:{','.join(urls)}#{NAME}"), **options)


def call(url: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of one request, error statuses included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- the server ----------------------------------------------------------------------------------


def test_models_lists_the_served_name_and_hash(server):
    status, body = call(server, "/models")
    assert status == 200
    [model] = body["data"]
    assert model["id"] == NAME and model["root"] == f"sha256:{resolve('embedded').sha256}"


def test_chat_completion_applies_the_chat_template(server, local):
    messages = [{"role": "user", "content": "What is 2+3? Answer with a number."}]
    status, body = call(server, "/chat/completions",
                        {"model": NAME, "messages": messages, "max_tokens": 16, "temperature": 0})
    assert status == 200, body
    [expected] = local.generate([GenerateRequest(local.render(messages, chat=True), max_tokens=16)])
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": expected}
    assert body["object"] == "chat.completion" and body["usage"]["prompt_tokens"] > 20


def test_echo_logprobs_follow_the_openai_shape(server, local):
    text = "The capital of France is Paris"
    status, body = call(server, "/completions",
                        {"model": NAME, "prompt": [text], "max_tokens": 0, "echo": True, "logprobs": 1})
    assert status == 200, body
    [choice] = body["choices"]
    logprobs = choice["logprobs"]
    assert choice["text"] == text and "".join(logprobs["tokens"]) == text
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert logprobs["text_offset"] == [len("".join(logprobs["tokens"][:i])) for i in range(len(logprobs["tokens"]))]
    assert all(len(top) == 1 for top in logprobs["top_logprobs"][1:])
    assert body["usage"] == {"prompt_tokens": local.count_tokens(text), "completion_tokens": 0,
                             "total_tokens": local.count_tokens(text)}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/completions", {"prompt": 5}, "prompt"),
    ("/completions", {"prompt": "x", "max_tokens": -1}, "max_tokens"),
    ("/completions", {"prompt": "x", "temperature": "hot"}, "temperature"),
    ("/completions", {"prompt": "x", "n": 2}, "n"),
    ("/completions", {"prompt": "x", "stop": 3}, "stop"),
    ("/completions", {"prompt": "x", "logprobs": 1, "max_tokens": 4}, "logprobs"),
    ("/chat/completions", {"messages": "hi"}, "messages"),
    ("/chat/completions", {"messages": [{"role": "user"}]}, "messages"),
])
def test_bad_requests_get_400_naming_the_field(server, path, body, field):
    status, answer = call(server, path, {"model": NAME, **body})
    assert status == 400
    assert answer["error"]["param"] == field and field in answer["error"]["message"]


def test_unknown_model_is_404(server):
    status, answer = call(server, "/completions", {"model": "gpt-5", "prompt": "x"})
    assert status == 404 and "gpt-5" in answer["error"]["message"] and NAME in answer["error"]["message"]


# --- the engine, directly --------------------------------------------------------------------------


def test_concurrent_completions_equal_the_local_engine(server, local):
    engine = engine_for(server, max_concurrency=4)
    chat = [[{"role": "user", "content": q}] for q in ("Name a colour.", "What is the capital of Italy?")]
    remote = [GenerateRequest(p, max_tokens=10) for p in PROMPTS] + \
        [GenerateRequest(engine.render(m, chat=True), max_tokens=10) for m in chat] + \
        [GenerateRequest("Count: 1, 2, 3,", max_tokens=20, stop=(",",))]
    reference = remote[:len(PROMPTS)] + \
        [GenerateRequest(local.render(m, chat=True), max_tokens=10) for m in chat] + remote[-1:]
    assert engine.generate(remote) == local.generate(reference)
    assert engine.render(chat[0], chat=True).startswith(CHAT_MARKER)
    assert engine.render("plain", chat=False) == "plain"


def test_loglikelihood_through_echo_equals_the_local_engine(server, local):
    engine = engine_for(server)
    requests = [LoglikelihoodRequest(c, t) for c, t in PAIRS]
    for (context, continuation), got, want in zip(PAIRS, engine.loglikelihood(requests), local.loglikelihood(requests)):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-3), (context, continuation)
        assert got.is_greedy == want.is_greedy, (context, continuation)
    assert {score.is_greedy for score in local.loglikelihood(requests)} == {True, False}


def test_rolling_loglikelihood_scores_every_token_after_the_first(server, local):
    text = "The quick brown fox jumps over the lazy dog."
    [rolling] = engine_for(server).loglikelihood_rolling([text])
    [tokens] = local.token_logprobs([text])
    assert rolling == pytest.approx(sum(t.logprob for t in tokens[1:]), abs=1e-3)


def test_token_counts_come_from_the_server_when_seen(server, local):
    engine = engine_for(server)
    prompt = "The capital of France is"
    assert engine.count_tokens("x" * 41) == 11  # never seen: one token per 4 characters
    [answer] = engine.generate([GenerateRequest(prompt, max_tokens=6)])
    assert engine.count_tokens(prompt) == local.count_tokens(prompt)
    assert engine.count_tokens(answer) == local.count_tokens(answer)


def test_engine_info(server):
    info = engine_for(server).info
    assert info.kind == "openai" and info.model_hash == resolve(f"openai:{server}#{NAME}").sha256
    assert info.version.startswith("modeleval-serve/") and info.device == "remote"
    assert info.extra["server_model"] == f"sha256:{resolve('embedded').sha256}"


def test_a_name_the_server_does_not_serve_is_an_engine_error(server):
    with pytest.raises(EngineError, match=r"does not serve model 'other'.*'smol'"):
        OpenAIEngine(resolve(f"openai:{server}#other"))


# --- faults ----------------------------------------------------------------------------------------


class FaultProxy:
    """A loopback reverse proxy to the server. Each POST first takes the next step of `plan`:
    ("ok",) forwards, ("status", code, message[, retry_after]) answers an error, ("stall", seconds)
    answers nothing for that long and then drops the connection, ("drop",) drops it at once, and
    ("replay",) answers what the server answered to the same request before, so that a short
    client timeout does not depend on how fast the model is. GETs always pass; `gate`, while
    cleared, holds forwarded POSTs. Counts the POSTs and the most in flight at once."""

    def __init__(self, target_v1: str, delay: float = 0.0):
        self.target = target_v1[:-len("/v1")]
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()
        self.plan: collections.deque = collections.deque()
        self.answers: dict[bytes, tuple[int, bytes]] = {}
        self.lock = threading.Lock()
        self.posts = self.active = self.max_active = 0
        handler = type("Handler", (_ProxyHandler,), {"proxy": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def next_step(self) -> tuple:
        with self.lock:
            self.posts += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            return self.plan.popleft() if self.plan else ("ok",)

    def done(self) -> None:
        with self.lock:
            self.active -= 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: FaultProxy

    def do_GET(self):  # noqa: N802
        self._reply(*self._forward(None))

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        step = self.proxy.next_step()
        try:
            answer = self._answer(step, body)
        finally:  # before answering: the client may send its next request as soon as it has the answer
            self.proxy.done()
        if answer is None:
            self.close_connection = True
        else:
            self._reply(*answer)

    def _answer(self, step: tuple, body: bytes) -> tuple | None:
        """(status, body[, headers]) for a step, or None to drop the connection unanswered."""
        if step[0] in ("drop", "stall"):
            time.sleep(step[1] if step[0] == "stall" else 0)
            return None
        if step[0] == "status":
            headers = {"Retry-After": str(step[3])} if len(step) > 3 else {}
            return step[1], json.dumps({"error": {"message": step[2]}}).encode(), headers
        key = self.path.encode() + body
        if step[0] == "replay":
            return self.proxy.answers[key]
        time.sleep(self.proxy.delay)
        self.proxy.gate.wait(timeout=60)
        self.proxy.answers[key] = self._forward(body)
        return self.proxy.answers[key]

    def _forward(self, body: bytes | None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.proxy.target + self.path, data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _reply(self, status: int, data: bytes, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                               **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout step): nobody to answer
            pass

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def proxies(server):
    """make(delay=0.0) -> a FaultProxy in front of the server; all closed at teardown."""
    made: list[FaultProxy] = []

    def make(delay: float = 0.0) -> FaultProxy:
        made.append(FaultProxy(server, delay))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


def test_retries_500_429_timeouts_and_dropped_connections(proxies, local):
    proxy = proxies()
    request = GenerateRequest("The capital of France is", max_tokens=6)
    assert engine_for(proxy.url).generate([request]) == local.generate([request])  # the proxy keeps the answer
    proxy.plan.extend([("status", 500, "boom"), ("status", 429, "slow down", 1), ("drop",), ("stall", 2.0),
                       ("replay",)])
    engine = engine_for(proxy.url, attempts=5, timeout=1.0)
    started = time.monotonic()
    assert engine.generate([request]) == local.generate([request])
    assert proxy.posts == 1 + 5 and not proxy.plan
    assert time.monotonic() - started >= 1.0 + 1.0  # Retry-After, then the client's timeout


def test_loglikelihood_is_retried_too(proxies, local):
    proxy = proxies()
    proxy.plan.extend([("status", 503, "restarting"), ("drop",)])
    request = LoglikelihoodRequest(*PAIRS[0])
    [got] = engine_for(proxy.url).loglikelihood([request])
    [want] = local.loglikelihood([request])
    assert got.logprob == pytest.approx(want.logprob, abs=1e-3) and got.is_greedy == want.is_greedy
    assert proxy.posts == 3


def test_exhausted_retries_raise_with_endpoint_status_and_message(proxies):
    proxy = proxies()
    proxy.plan.extend([("status", 500, "the GPU caught fire")] * 3)
    with pytest.raises(EngineError) as err:
        engine_for(proxy.url, attempts=3).generate([GenerateRequest("x", max_tokens=2)])
    message = str(err.value)
    assert proxy.url in message and "HTTP 500" in message and "the GPU caught fire" in message
    assert "gave up after 3 attempts" in message and proxy.posts == 3


def test_a_client_error_is_not_retried(proxies):
    proxy = proxies()
    proxy.plan.append(("status", 401, "invalid api key"))
    with pytest.raises(EngineError, match=r"HTTP 401: invalid api key$"):
        engine_for(proxy.url).generate([GenerateRequest("x", max_tokens=2)])
    assert proxy.posts == 1


def test_a_server_without_echo_logprobs_is_a_clear_error(proxies):
    proxy = proxies()
    proxy.plan.append(("status", 400, "echo is not supported with logprobs"))
    with pytest.raises(EngineError, match=r"does not support echo\+logprobs .*cannot run against it"):
        engine_for(proxy.url).loglikelihood([LoglikelihoodRequest("a", " b")])


def test_least_outstanding_requests_go_around_a_busy_endpoint(proxies):
    """The first request is held at `busy`; all the others go to `free`, which has none in flight
    whenever one is sent (round-robin would send half of them to `busy`)."""
    busy, free = proxies(), proxies()
    busy.gate.clear()
    requests = [LoglikelihoodRequest(c, t) for c, t in PAIRS * 2]
    release = threading.Thread(target=_release_when, args=(busy.gate, lambda: free.posts == len(requests) - 1))
    release.start()
    try:
        engine_for(busy.url, free.url, max_concurrency=2).loglikelihood(requests)
    finally:
        release.join()
    assert (busy.posts, free.posts) == (1, len(requests) - 1)


def _release_when(gate: threading.Event, condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    gate.set()


def test_requests_in_flight_never_exceed_max_concurrency(proxies):
    proxy = proxies(delay=0.2)
    engine_for(proxy.url, max_concurrency=3).loglikelihood([LoglikelihoodRequest(c, t) for c, t in PAIRS * 2])
    assert proxy.posts == 2 * len(PAIRS)
    assert 1 < proxy.max_active <= 3


# --- through pytest ----------------------------------------------------------------------------------

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("capitals", data="capitals.jsonl")
def test_capital(item, model):
    assert item["expect"] in model.generate("The capital of France is", max_tokens=4)

@modeleval.suite("pick", data="pick.jsonl")
def test_pick(item, model):
    assert model.choose("The capital of France is", [" Paris", " banana"]) == item["answer"]
"""


def write_suite(pytester) -> None:
    pytester.makepyfile(test_remote=SUITE)
    (pytester.path / "capitals.jsonl").write_text('{"expect": "Paris"}\n{"expect": "Berlin"}\n')
    (pytester.path / "pick.jsonl").write_text('{"answer": 0}\n{"answer": 1}\n')


def outcomes(pytester) -> list[tuple[str, str | None]]:
    import sqlite3

    con = sqlite3.connect(pytester.path / ".modeleval" / "results.sqlite")
    try:
        return con.execute("SELECT outcome, message FROM outcomes ORDER BY test_id").fetchall()
    finally:
        con.close()


def run_record(pytester) -> dict:
    import sqlite3

    con = sqlite3.connect(pytester.path / ".modeleval" / "results.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return dict(con.execute("SELECT * FROM runs").fetchone())
    finally:
        con.close()


def test_a_suite_against_the_server_records_correct_and_wrong(pytester, server):
    write_suite(pytester)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--model=openai:{server}#{NAME}")
    assert result.ret == 0, result.stdout.str()
    assert [outcome for outcome, _ in outcomes(pytester)] == ["correct", "wrong", "correct", "wrong"]
    run = run_record(pytester)
    assert run["engine"] == "openai" and run["model_kind"] == "openai" and run["hash_basis"] == "name"
    assert run["engine_version"].startswith("modeleval-serve/")


def test_engine_failures_are_errors_not_wrong_answers(pytester, proxies):
    proxy = proxies()
    proxy.plan.extend([("status", 401, "invalid api key")] * 50)
    write_suite(pytester)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--model=openai:{proxy.url}#{NAME}")
    assert result.ret != 0
    recorded = outcomes(pytester)
    assert [outcome for outcome, _ in recorded] == ["error"] * 4
    assert all("HTTP 401: invalid api key" in message for _, message in recorded)
