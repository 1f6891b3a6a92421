"""The engine for a model behind one or more OpenAI-compatible servers (vLLM, `modeleval serve`, ...).

Standard library only. The requests of one call go out concurrently (at most
`max_concurrency` at a time), each to the endpoint with the fewest requests in flight;
429s, 5xx answers, timeouts and dropped connections are retried with exponential backoff
and jitter (honouring Retry-After), so a flaky server costs time, not results. Whatever
cannot be answered raises EngineError, which makes the test an error, never a wrong answer.

Prompts: `render(prompt, chat=True)` returns CHAT_MARKER followed by the messages as
canonical JSON, because the server, not this process, applies the chat template; that
text is what cache keys and the results database see, and `generate` sends it to
/chat/completions as messages. Plain prompts go to /completions.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Sequence
from urllib.parse import urlsplit

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest, TokenScores
from .tokenized import PromptRendering

CHAT_MARKER = "<|openai-chat|>"
DEFAULT_CONCURRENCY = 8
DEFAULT_ATTEMPTS = 4
CHARS_PER_TOKEN = 4  # the token estimate for texts the server has not counted
KNOWN_COUNTS = 100_000  # texts whose server-reported token counts are remembered
UNSUPPORTED_ECHO = (400, 422, 501)  # how servers refuse echo + logprobs
RETRY_STATUSES = (408, 429)  # request timeout, too many requests; and every 5xx


class HTTPEngineError(EngineError):
    """A request that failed for good: the endpoint, the HTTP status (None: no answer) and why."""

    def __init__(self, endpoint: str, status: int | None, message: str, attempts: int):
        self.endpoint, self.status, self.server_message = endpoint, status, message
        what = f"HTTP {status}: {message}" if status is not None else message
        tries = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{endpoint}: {what}{tries}")


class _Failure(Exception):
    """One failed attempt; `retryable` and `retry_after` decide whether and when to try again."""

    def __init__(self, status: int | None, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.message, self.retryable, self.retry_after = status, message, retryable, retry_after


class Endpoints:
    """Least-outstanding-requests choice among base URLs; ties rotate so idle endpoints share work."""

    def __init__(self, urls: Sequence[str]):
        self.urls = list(urls)
        self.outstanding = dict.fromkeys(self.urls, 0)
        self.lock = threading.Lock()
        self.turn = 0

    @contextmanager
    def lease(self, url: str | None = None):
        """An endpoint (the given one, or the least busy) counted as busy while the block runs."""
        with self.lock:
            if url is None:
                start, self.turn = self.turn, self.turn + 1
                rotated = [self.urls[(start + k) % len(self.urls)] for k in range(len(self.urls))]
                url = min(rotated, key=self.outstanding.__getitem__)
            self.outstanding[url] += 1
        try:
            yield url
        finally:
            with self.lock:
                self.outstanding[url] -= 1


class Client:
    """JSON over HTTP to several endpoints: bounded concurrency, bounded retries, bounded time."""

    def __init__(self, urls: Sequence[str], *, max_concurrency: int = DEFAULT_CONCURRENCY,
                 attempts: int = DEFAULT_ATTEMPTS, timeout: float = 120.0, backoff: float = 0.5,
                 max_backoff: float = 30.0, api_key: str | None = None):
        self.endpoints = Endpoints(urls)
        self.slots = threading.BoundedSemaphore(max_concurrency)
        self.attempts, self.timeout, self.backoff, self.max_backoff = max(1, attempts), timeout, backoff, max_backoff
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def request(self, path: str, body: dict | None = None, endpoint: str | None = None) -> tuple[str, dict]:
        """(endpoint, JSON answer) of a POST (GET without a body); raises HTTPEngineError."""
        for attempt in itertools.count(1):
            with self.slots, self.endpoints.lease(endpoint) as url:
                try:
                    return url, self._send(url + path, body)
                except _Failure as failure:
                    if not failure.retryable or attempt >= self.attempts:
                        raise HTTPEngineError(url, failure.status, failure.message, attempt) from None
                    delay = self._delay(attempt, failure.retry_after)
            time.sleep(delay)  # outside the slot: a waiting retry does not hold back other requests
        raise AssertionError("unreachable: the loop returns or raises")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, at least what Retry-After asked for, never above max_backoff."""
        delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        return min(self.max_backoff, max(delay, retry_after or 0.0))

    def _send(self, url: str, body: dict | None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=self.headers, method="GET" if data is None else "POST")
        try:
            with _opener(url).open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            retryable = exc.code in RETRY_STATUSES or exc.code >= 500
            raise _Failure(exc.code, _server_message(exc), retryable, _retry_after(exc.headers)) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, dropped, timed out
            raise _Failure(None, _network_message(exc, self.timeout), True) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise _Failure(200, f"the answer is not JSON: {raw[:200]!r}", False) from None


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


def _opener(url: str):
    """Loopback servers are reached directly even when an HTTP proxy is configured."""
    host = urlsplit(url).hostname or ""
    return _DIRECT if host in ("localhost", "::1") or host.startswith("127.") else _DEFAULT


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The message of an OpenAI-style error body ({"error": {"message"}}), vLLM's, or the raw text."""
    try:
        raw = exc.read()
    except (OSError, http.client.HTTPException):
        return exc.reason or "no message"
    try:
        body = json.loads(raw)
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or body.get("detail") or raw[:500].decode(errors="replace"))
    except (ValueError, AttributeError):
        return raw[:500].decode(errors="replace") or str(exc.reason)


def _retry_after(headers) -> float | None:
    """Retry-After in seconds; the HTTP-date form is ignored (the backoff applies)."""
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        return None


def _network_message(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s"
    reason = getattr(exc, "reason", None) or exc
    return f"connection failed: {type(reason).__name__}" + (f": {reason}" if str(reason) else "")


class OpenAIEngine(PromptRendering):
    """The Engine protocol over OpenAI-compatible /completions and /chat/completions."""

    def __init__(self, resolved, *, max_concurrency: int = DEFAULT_CONCURRENCY, attempts: int = DEFAULT_ATTEMPTS,
                 timeout: float = 120.0, backoff: float = 0.5, max_backoff: float = 30.0,
                 api_key: str | None = None):
        self.resolved = resolved
        self.name = resolved.served_name
        self.max_concurrency = max_concurrency
        self.client = Client(resolved.urls, max_concurrency=max_concurrency, attempts=attempts, timeout=timeout,
                             backoff=backoff, max_backoff=max_backoff,
                             api_key=api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"))
        self._token_counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self.info = self._info()

    # --- prompts ----------------------------------------------------------------------------------
    def _chat_text(self, messages: list[dict]) -> str:
        return CHAT_MARKER + json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    # --- generation -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Completions in request order, sent concurrently."""
        return self._map(self._complete, requests)

    def _complete(self, request: GenerateRequest) -> str:
        body = {"model": self.name, "max_tokens": request.max_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "seed": request.seed}
        if request.stop:
            body["stop"] = list(request.stop)
        messages = _chat_messages(request.prompt)
        if messages is None:
            endpoint, answer = self.client.request("/completions", {**body, "prompt": request.prompt})
            text = _field(endpoint, answer, lambda a: a["choices"][0]["text"])
        else:
            endpoint, answer = self.client.request("/chat/completions", {**body, "messages": messages})
            text = _field(endpoint, answer, lambda a: a["choices"][0]["message"]["content"]) or ""
        if not isinstance(text, str):
            raise EngineError(f"{endpoint}: the completion is not text: {text!r}")
        self._remember_usage(answer, request.prompt, text)
        return text

    # --- loglikelihood ----------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """lm-eval's scores from the server's echoed prompt logprobs (see `_score`)."""
        return self._map(self._score, requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Summed logprob of every token the server scores; the first token has no context over
        this API, so it is not part of the sum (the transformers engine scores it after BOS)."""
        return [score.logprob for score in self.loglikelihood([LoglikelihoodRequest("", t) for t in texts])]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Each echoed token's logprob (Min-K% only): the API gives at most the top 5 of each position's
        distribution, so Min-K%++'s mean and spread of log p are not computed (None)."""
        return self._map(self._token_scores, texts)

    def _token_scores(self, text: str) -> TokenScores:
        if _chat_messages(text) is not None:
            raise EngineError("token scores need plain text: the server applies chat templates only when "
                              "generating, so chat prompts cannot be scored over the OpenAI API")
        endpoint, choice = self._echo(text)
        values = _field(endpoint, choice, lambda c: c["logprobs"]["token_logprobs"])
        if not isinstance(values, list):
            raise _unsupported(endpoint, "the answer has no token_logprobs")
        return TokenScores(tuple(float(v) for v in values if v is not None))

    def _score(self, request: LoglikelihoodRequest) -> Loglikelihood:
        """Echo the whole text with max_tokens=0 and sum the logprobs of the tokens that hold
        continuation characters (lm-eval's split: trailing context spaces count as continuation)."""
        if _chat_messages(request.context) is not None:
            raise EngineError("loglikelihood needs plain text: the server applies chat templates only when "
                              "generating, so chat prompts cannot be scored over the OpenAI API")
        text = request.context + request.continuation
        scored_chars = len(request.continuation) + len(request.context) - len(request.context.rstrip())
        endpoint, choice = self._echo(text)
        return _continuation_score(endpoint, choice, text, scored_chars)

    def _echo(self, text: str):
        """(endpoint, choice) of the text echoed back with each token's logprob and nothing generated: how
        both loglikelihoods and token scores are read over the API."""
        body = {"model": self.name, "prompt": text, "max_tokens": 0, "echo": True, "logprobs": 1,
                "temperature": 0.0}
        try:
            endpoint, answer = self.client.request("/completions", body)
        except HTTPEngineError as exc:
            if exc.status in UNSUPPORTED_ECHO:
                raise _unsupported(exc.endpoint, f"HTTP {exc.status}: {exc.server_message}") from None
            raise
        choice = _field(endpoint, answer, lambda a: a["choices"][0])
        self._remember_usage(answer, text, None)
        return endpoint, choice

    # --- token counts -----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """The server's count when it has reported one for this text (as a prompt or a completion),
        else an estimate of one token per CHARS_PER_TOKEN characters."""
        with self._counts_lock:
            known = self._token_counts.get(text)
        return known if known is not None else -(-len(text) // CHARS_PER_TOKEN)

    def _remember_usage(self, answer: dict, prompt: str, completion: str | None) -> None:
        usage = answer.get("usage") if isinstance(answer, dict) else None
        if not isinstance(usage, dict):
            return
        counts = {prompt: usage.get("prompt_tokens")}
        if completion is not None:
            counts[completion] = usage.get("completion_tokens")
        with self._counts_lock:
            for text, count in counts.items():
                if isinstance(count, int):
                    self._token_counts[text] = count
            while len(self._token_counts) > KNOWN_COUNTS:
                self._token_counts.pop(next(iter(self._token_counts)))

    # --- plumbing ---------------------------------------------------------------------------------
    def _map(self, call: Callable, items: Sequence) -> list:
        """call(item) for every item, concurrently, results in order; the first failure is raised
        and the calls not yet started are cancelled."""
        if not items:
            return []
        with ThreadPoolExecutor(min(self.max_concurrency, len(items)), thread_name_prefix="modeleval-http") as pool:
            futures = [pool.submit(call, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _info(self) -> EngineInfo:
        """Checks that every endpoint serves the model, and asks the first one for its version."""
        served: dict = {}
        for url in self.client.endpoints.urls:
            served = self._served_model(url) or served
        return EngineInfo(kind="openai", version=self._server_version(), model_hash=self.resolved.sha256,
                          device="remote", extra={"endpoints": list(self.client.endpoints.urls),
                                                  "served_name": self.name, "chat_template_sha256": None,
                                                  "server_model": served.get("root")})

    def _served_model(self, url: str) -> dict:
        """The /models entry for our model ({} when the server has no /models); EngineError if absent."""
        try:
            _, answer = self.client.request("/models", endpoint=url)
        except HTTPEngineError as exc:
            if exc.status == 404:
                return {}
            raise
        models = answer.get("data") if isinstance(answer, dict) else None
        entries = {m.get("id"): m for m in models or [] if isinstance(m, dict)}
        if models is not None and self.name not in entries:
            raise EngineError(f"{url} does not serve model {self.name!r}; it serves "
                              f"{', '.join(map(repr, entries)) or 'nothing'}")
        return entries.get(self.name, {})

    def _server_version(self) -> str:
        """vLLM and `modeleval serve` answer GET /version next to /v1; other servers: "unknown"."""
        base = self.client.endpoints.urls[0]
        if not base.endswith("/v1"):
            return "unknown"
        try:
            _, answer = Client([base[:-3]], attempts=1, timeout=10.0).request("/version")
        except EngineError:
            return "unknown"
        version = answer.get("version") if isinstance(answer, dict) else None
        return str(version) if version else "unknown"


def _chat_messages(prompt: str) -> list | None:
    """The messages a rendered chat prompt stands for, or None for a plain prompt."""
    return json.loads(prompt[len(CHAT_MARKER):]) if prompt.startswith(CHAT_MARKER) else None


def _field(endpoint: str, answer, get: Callable):
    """A part of an answer, or EngineError naming the endpoint when the answer has another shape."""
    try:
        return get(answer)
    except (KeyError, IndexError, TypeError):
        raise EngineError(f"{endpoint}: unexpected answer: {json.dumps(answer)[:300]}") from None


def _unsupported(endpoint: str, why: str) -> EngineError:
    return EngineError(f"server {endpoint} does not support echo+logprobs ({why}), so loglikelihood evals "
                       "cannot run against it; use a local checkpoint or vLLM's OpenAI server")


def _continuation_score(endpoint: str, choice: dict, text: str, scored_chars: int) -> Loglikelihood:
    """Sum the logprobs of the tokens that end inside the last `scored_chars` characters of the echo.

    Offsets are anchored at the end of the echoed text, so a BOS token the server adds in front
    does not shift them. A token is greedy when its logprob is at least its position's top-1."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    keys = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    if not isinstance(logprobs, dict) or not all(isinstance(logprobs.get(k), list) for k in keys):
        raise _unsupported(endpoint, "the answer has no tokens, token_logprobs, top_logprobs and text_offset")
    tokens, values, tops, offsets = (logprobs[k] for k in keys)
    if choice.get("text") != text or not len(tokens) == len(values) == len(tops) == len(offsets):
        raise _unsupported(endpoint, "the prompt was not echoed with one logprob per token")
    if not tokens:
        return Loglikelihood(0.0, True)
    ends = offsets[1:] + [offsets[-1] + len(tokens[-1])]
    start = ends[-1] - scored_chars
    total, greedy = 0.0, True
    for value, top, end in zip(values, tops, ends):
        if end <= start or value is None:
            continue
        total += value
        greedy = greedy and (not top or value >= max(top.values()))
    return Loglikelihood(total, greedy)
