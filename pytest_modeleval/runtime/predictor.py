"""Every prediction goes through here: cache lookup, batched engine calls for the misses, cache writes.

Declared requests (the planner) and imperative calls (`model.generate` in a test body)
share this path, so nothing is ever computed twice. Under pytest-xdist the workers share
the cache file and claim batches before computing them, so each prediction is computed
by exactly one worker; the others wait for it to appear. On a PostgreSQL cache every
process claims (cache/claims.py), so the same holds across machines.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence, cast

from ..engines import window
from ..engines.base import EngineError, GenerateRequest, Loglikelihood, LoglikelihoodRequest, TokenScores
from .cache.store import PredictionCache, request_key


@dataclass
class Prediction:
    """One answer and what it cost; `cached` says whether this run computed it. A request longer than the
    model's window has no answer but its `error`, or, where its suite allows, was cut to fit (`truncated`)."""

    value: object
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    truncated: bool = False
    error: Exception | None = None


@dataclass
class Usage:
    """Totals for a process: requests, cache hits, engine calls, tokens computed."""

    requests: int = 0
    cache_hits: int = 0
    engine_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def generate_payload(request: GenerateRequest) -> dict:
    """The sampling parameters that can change a completion; greedy ignores seed and top_p."""
    greedy = request.greedy
    payload = {"prompt": request.prompt, "max_tokens": request.max_tokens, "temperature": float(request.temperature),
               "top_p": 1.0 if greedy else float(request.top_p), "stop": list(request.stop),
               "seed": None if greedy else request.seed}
    if request.tag:  # only when set, so the keys of untagged requests stay what they always were
        payload["tag"] = request.tag
    return payload


def list_or_none(values) -> list | None:
    """A TokenScores part as the cache stores it (JSON)."""
    return None if values is None else [float(v) for v in values]


class Predictor:
    def __init__(self, engine: Callable, cache: PredictionCache, model_hash: str, batch_size: int,
                 shared: bool = False, progress: Callable[[str, int, int, float], None] | None = None,
                 wait_timeout: float = 3600.0, run_started: float | None = None):
        self._engine = engine  # a factory: the engine loads on first need
        self.cache = cache
        self.model_hash = model_hash
        self.batch_size = batch_size
        self.shared = shared  # several processes (xdist workers) use the same cache
        self.progress = progress
        self.wait_timeout = wait_timeout
        self.usage = Usage()
        # Under xdist a peer worker's predictions of this run (written after run_started) are this run's
        # work, not cache hits; each counts as new once per process, where its test then runs.
        self.run_started = run_started
        self._counted: set[str] = set()

    @property
    def engine(self):
        return self._engine()

    # --- the three request kinds ----------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest], samples: Sequence[int] | None = None,
                 truncate: Sequence[bool] | None = None) -> list[Prediction]:
        """`truncate[i]`: request i may be cut to the model's window (its suite's `truncate=True`)."""
        samples = samples or [0] * len(requests)
        payloads = [generate_payload(r) for r in requests]

        def rows(batch: list[GenerateRequest], texts: list[str]) -> list[tuple[object, int, int]]:
            return [(text, self.engine.count_tokens(r.prompt), self.engine.count_tokens(text))
                    for r, text in zip(batch, texts)]

        return self._predict("generate", requests, payloads, samples, rows, order=lambda r: -len(r.prompt),
                             truncate=truncate)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest],
                      truncate: Sequence[bool] | None = None) -> list[Prediction]:
        payloads = [{"context": r.context, "continuation": r.continuation} for r in requests]

        def rows(batch, scores):
            return [([s.logprob, s.is_greedy], self.engine.count_tokens(r.context + r.continuation), 0)
                    for r, s in zip(batch, scores)]

        predictions = self._predict("loglikelihood", requests, payloads, [0] * len(requests), rows,
                                    order=lambda r: (-len(r.context), r.context, -len(r.continuation)),
                                    truncate=truncate)
        for p in predictions:
            if p.error is None:
                logprob, greedy = cast(list, p.value)
                p.value = Loglikelihood(float(logprob), bool(greedy))
        return predictions

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[Prediction]:
        def rows(batch, values):
            return [(v, self.engine.count_tokens(t), 0) for t, v in zip(batch, values)]

        return self._predict("loglikelihood_rolling", list(texts), [{"text": t} for t in texts],
                             [0] * len(texts), rows, order=lambda text: -len(text))

    def token_scores(self, texts: Sequence[str]) -> list[Prediction]:
        """Per-token logprobs of each text (membership scores: perturb/membership.py), cached by the text
        like any prediction; an engine that cannot give them is refused here, by name."""
        if not hasattr(self.engine, "token_scores"):
            raise EngineError(f"engine {self.engine.info.kind!r} cannot give per-token logprobs, so membership "
                              "scores (Min-K%) cannot be computed with it; use the transformers (hf), vLLM or "
                              "an OpenAI-compatible engine")

        def rows(batch, values):
            return [(list(map(list_or_none, v)), self.engine.count_tokens(t), 0) for t, v in zip(batch, values)]

        predictions = self._predict("token_scores", list(texts), [{"text": t} for t in texts],
                                    [0] * len(texts), rows, order=lambda text: -len(text))
        for p in predictions:
            if p.error is None:
                logprobs, means, stds = cast(list, p.value)
                p.value = TokenScores(tuple(logprobs), None if means is None else tuple(means),
                                      None if stds is None else tuple(stds))
        return predictions

    # --- the shared path --------------------------------------------------------------------------
    def _predict(self, kind, requests, payloads, samples, rows, order, truncate=None) -> list[Prediction]:
        """`order` sorts what is missing: longest first (batches of similar length pad least), and for
        loglikelihood the choices of one context together, so that they share a call and a forward row.
        `rows(batch, outputs)` turns the engine method `kind`'s outputs into (value, prompt, completion tokens).
        Every request is checked against the model's window first, cached or not (engines/window.py)."""
        fingerprint = self.engine.info.fingerprint()
        keys = [request_key(fingerprint, kind, payload, sample) for payload, sample in zip(payloads, samples)]
        unique: dict[str, object] = {}
        for key, request in zip(keys, requests):
            unique.setdefault(key, request)
        over = {key: window.excess(self.engine, kind, request) for key, request in unique.items()}
        cut = [bool(over[key]) and bool(truncate and truncate[i]) and window.cuttable(kind)
               for i, key in enumerate(keys)]
        refused = [bool(over[key]) and not cut[i] for i, key in enumerate(keys)]
        wanted = {key for key, no in zip(keys, refused) if not no}
        self.usage.requests += len(keys)
        found = {key: self._from_cache(key, v)
                 for key, v in self.cache.get_many([k for k in unique if k in wanted]).items()}
        self.usage.cache_hits += sum(1 for key in keys if key in found)
        missing = sorted((k for k in unique if k in wanted and k not in found), key=lambda k: order(unique[k]))
        if missing and hasattr(self.engine, "map_batches") and not self.shared:
            self._compute_spread(kind, missing, unique, rows, found)
        else:
            self._compute(kind, missing, unique, lambda batch: rows(batch, getattr(self.engine, kind)(batch)), found)
        predictions, seen = [], set()
        for i, key in enumerate(keys):  # a repeated request is computed once; its repeats are served, not paid for
            if refused[i]:
                error = window.PromptTooLong(window.describe(self.engine, kind, unique[key], over[key]))
                predictions.append(Prediction(None, 0, 0, True, error=error))
                continue
            prediction = found[key]
            if (key in seen and not prediction.cached) or cut[i]:
                prediction = Prediction(prediction.value, prediction.prompt_tokens, prediction.completion_tokens,
                                        prediction.cached or key in seen, truncated=cut[i])
            seen.add(key)
            predictions.append(prediction)
        return predictions

    def _from_cache(self, key: str, row: dict) -> Prediction:
        fresh = self.run_started is not None and row["created_at"] >= self.run_started and key not in self._counted
        self._counted.add(key)
        return Prediction(row["value"], row["prompt_tokens"], row["completion_tokens"], cached=not fresh)

    def _compute(self, kind, missing: list[str], requests: dict, compute, found: dict) -> None:
        """Largest first, one engine call per batch, each batch written before the next starts."""
        start, done = time.perf_counter(), 0
        waiting: list[str] = []
        for chunk in self._chunks(missing, requests):
            mine = self._claim(chunk, found) if self.shared else chunk
            waiting += [key for key in chunk if key not in found and key not in set(mine)]
            if not mine:
                continue
            try:
                results = compute([requests[key] for key in mine])
            except Exception:
                if self.shared:
                    self.cache.release(mine)
                raise
            self._store(kind, mine, results, found)
            done += len(mine)
            if self.progress:
                self.progress(kind, done, len(missing) - len(waiting), time.perf_counter() - start)
        if waiting:
            self._wait_for(kind, waiting, requests, compute, found)

    def _compute_spread(self, kind, missing: list[str], requests: dict, rows, found: dict) -> None:
        """An engine with replicas (the Ray engine) takes every batch at once and returns each as it is done;
        each is written to the cache then. A failed batch fails the call after all the others are written."""
        start, done, error = time.perf_counter(), 0, None
        chunks = self._chunks(missing, requests)
        batches = [[requests[key] for key in chunk] for chunk in chunks]
        for index, outputs in self.engine.map_batches(kind, batches):
            if isinstance(outputs, Exception):
                error = error or outputs
                continue
            self._store(kind, chunks[index], rows(batches[index], outputs), found)
            done += len(chunks[index])
            if self.progress:
                self.progress(kind, done, len(missing), time.perf_counter() - start)
        if error is not None:
            raise error

    def _store(self, kind, keys: list[str], results: list[tuple[object, int, int]], found: dict) -> None:
        """One computed batch into the cache and this call's results."""
        self.usage.engine_calls += 1
        rows = [(key, value, p, c) for key, (value, p, c) in zip(keys, results)]
        self.cache.put_many(self.model_hash, kind, rows)
        for key, value, p, c in rows:
            found[key] = Prediction(value, p, c, False)
            self._counted.add(key)
            self.usage.prompt_tokens += p
            self.usage.completion_tokens += c

    def _chunks(self, keys: list[str], requests: dict) -> list[list[str]]:
        """One engine call's worth of keys each: batch_size requests, or for loglikelihood batch_size distinct
        contexts, because the engine gives the choices of one context a single forward row (MMLU's four
        letters are one row, so a call of 16 requests would fill only 4 of its 16 rows). An engine that
        schedules requests itself (vLLM's continuous batching) asks for larger calls with `min_call_size`."""
        size = max(self.batch_size, getattr(self.engine, "min_call_size", 0))
        chunks: list[list[str]] = []
        contexts: set = set()
        for key in keys:
            request = requests[key]
            context = request.context if isinstance(request, LoglikelihoodRequest) else key
            if not chunks or (context not in contexts and len(contexts) >= size):
                chunks.append([])
                contexts = set()
            chunks[-1].append(key)
            contexts.add(context)
        return chunks

    def _claim(self, keys: list[str], found: dict, stale_after: float = 600.0) -> list[str]:
        """Claim keys, then drop any another worker finished meanwhile (its claim is gone once written)."""
        mine = self.cache.claim(keys, stale_after=stale_after)
        done = self.cache.get_many(mine)
        for key, v in done.items():
            found[key] = self._from_cache(key, v)
        if done:
            self.cache.release(list(done))
        return [key for key in mine if key not in done]

    def _wait_for(self, kind, keys: list[str], requests: dict, compute, found: dict) -> None:
        """Predictions another worker claimed: poll the cache; compute any whose claim was dropped."""
        deadline = time.monotonic() + self.wait_timeout
        pending = list(keys)
        while pending:
            for key, v in self.cache.get_many(pending).items():
                found[key] = self._from_cache(key, v)
            pending = [key for key in pending if key not in found]
            if not pending:
                return
            orphaned = self._claim(pending, found, stale_after=self.wait_timeout)
            if orphaned:  # the other worker failed or gave its claim back
                self._compute(kind, orphaned, requests, compute, found)
                pending = [key for key in pending if key not in found]
                continue
            if time.monotonic() > deadline:
                raise EngineError(f"waited {self.wait_timeout:.0f} s for {len(pending)} {kind} predictions "
                                  "that another worker claimed")
            time.sleep(0.1)


@contextmanager
def standalone_predictor(resolved, settings):
    """(engine, predictor) for a command outside pytest (`modeleval judge validate`, ...): the project's
    prediction cache, so a validation and a suite share what they both asked."""
    from ..engines.factory import load_engine
    from .cache.store import PredictionCache

    engine = load_engine(resolved, settings)
    cache = PredictionCache(settings.cache_db, settings.cache, settings.cache_lease)
    try:
        yield engine, Predictor(lambda: engine, cache, resolved.sha256, settings.batch_size, shared=cache.shared)
    finally:
        cache.close()
