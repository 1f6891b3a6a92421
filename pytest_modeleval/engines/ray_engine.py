"""--eval-engine ray: the engine protocol over N replicas of a local engine, each a Ray actor.

The pytest process keeps the plan, the cache and the results; it renders prompts and counts tokens
with the model's own tokenizer, and sends the predictor's batches (deduplicated, read from the
cache) to the replicas. The engine's identity (`info`) is the replicas' engine's, so the cache keys
are those of an in-process run of that engine: a run on Ray and a rerun on one machine share
predictions. See docs/scaling.md#ray-replicas.
"""

from __future__ import annotations

import warnings
from typing import Iterator, Sequence

from . import ray_cluster, ray_replica
from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest
from .ray_dispatch import Dispatcher, ReplicaWarning
from .tokenized import TokenizerEngine
from .window import model_window

LOAD_TIMEOUT = 1800.0  # seconds for a replica to load its model (a large checkpoint over a network filesystem)


def load(resolved, settings) -> "RayEngine":
    """The Ray engine for a resolved local model, from the session's settings."""
    if resolved.path is None:
        raise EngineError(f"--eval-engine ray runs local checkpoints on its replicas; model {resolved.ref!r} "
                          "has no local files")
    cluster = ray_cluster.connect(settings.ray_address)
    cluster.check_room(settings.replicas * settings.replica_cpus, "the engine replicas",
                       "lower --eval-replicas or --eval-replica-cpus")
    if settings.replica_engine == "vllm" and cluster.ray.cluster_resources().get("GPU", 0) > 0:
        loaders = [ray_replica.vllm_loader(resolved, settings)] * settings.replicas
        resources = dict(gpus=1 if settings.tensor_parallel == 1 else 0, tensor_parallel=settings.tensor_parallel)
    elif settings.replica_engine == "vllm":  # vLLM's CPU backend; on one machine each replica binds its own cores
        single = len(cluster.ray.nodes()) == 1
        loaders = [ray_replica.vllm_loader(resolved, settings, (i, settings.replicas) if single else None)
                   for i in range(settings.replicas)]
        resources = dict(gpus=0)
    else:
        device = "cuda" if settings.replica_gpus else "cpu"
        loaders = [ray_replica.hf_loader(resolved, settings.batch_size, device)] * settings.replicas
        resources = dict(gpus=settings.replica_gpus)
    actors = [ray_replica.start(cluster.ray, loader, cpus=settings.replica_cpus, **resources) for loader in loaders]
    return RayEngine(cluster, actors, resolved, settings.replica_engine, batch_size=settings.batch_size,
                     timeout=settings.ray_timeout)


class RayEngine(TokenizerEngine):
    """Replicas behind the Engine protocol; `map_batches` lets the predictor keep them all busy."""

    def __init__(self, cluster, actors: Sequence, resolved, replica_engine: str, *, batch_size: int = 16,
                 timeout: float = 600.0, max_failures: int = 3, max_in_flight: int = 2,
                 load_timeout: float = LOAD_TIMEOUT):
        from .hf import model_dir

        self.cluster = cluster
        self.replica_engine = replica_engine
        self.batch_size = batch_size
        self.actors = list(actors)
        self.info = self._ready_info(resolved, load_timeout)
        self.dispatcher = Dispatcher(cluster.ray, self.actors, cluster.name, timeout=timeout,
                                     max_failures=max_failures, max_in_flight=max_in_flight)
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir(resolved)))  # as the replicas tokenize
        self.max_length = model_window(model_dir(resolved))  # as both replica engines read it

    @property
    def scored_limit(self) -> int:
        """The replicas' own: vLLM's prompt leaves room for one generated token, transformers' does not."""
        return self.max_length - 1 if self.replica_engine == "vllm" else self.max_length + 1

    def _ready_info(self, resolved, load_timeout: float) -> EngineInfo:
        """Wait for every replica to load; keep those whose engine is the first's (same cache keys)."""
        ray = self.cluster.ray
        pending = {actor.info.remote(): actor for actor in self.actors}
        infos, errors = {}, []
        try:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=load_timeout)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"{self.cluster.name}: engine replicas did not start: {exc}") from exc
        for ref in pending:
            if ref not in ready:
                errors.append(f"did not load in {load_timeout:g} s")
                continue
            try:
                infos[ref] = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a load failure in the actor
                errors.append(str(getattr(exc, "cause", None) or exc).strip().splitlines()[0])
        if not infos:
            raise EngineError(f"{self.cluster.name}: no engine replica of model sha256:{resolved.short} "
                              f"loaded: {'; '.join(errors)}")
        first = next(iter(infos.values()))
        keep = [actor for ref, actor in pending.items() if ref in infos
                and infos[ref].fingerprint() == first.fingerprint()]
        for ref, actor in pending.items():
            if actor not in keep:
                ray.kill(actor, no_restart=True)
        if len(keep) < len(self.actors):
            warnings.warn(f"modeleval: {self.cluster.name}: {len(keep)} of {len(self.actors)} engine replicas "
                          f"ready ({'; '.join(errors) or 'a different engine version on some nodes'})",
                          ReplicaWarning, stacklevel=2)
        self.actors = keep
        extra = {**first.extra, "replicas": len(keep), "replica_engine": self.replica_engine,
                 "cluster": self.cluster.name}
        return EngineInfo(first.kind, first.version, first.model_hash, first.device, first.dtype, extra)

    def describe(self) -> str:
        """For the header: 'engine ray: 2 replicas (hf) on local Ray, 2 CPUs'."""
        return (f"engine ray: {len(self.dispatcher.live)} replicas ({self.replica_engine}) on "
                f"{self.cluster.describe()}")

    # --- the protocol ---------------------------------------------------------------------------
    def map_batches(self, method: str, batches: Sequence[list]) -> Iterator[tuple[int, object]]:
        """(index, results or EngineError) per batch as each returns: the predictor writes each at once."""
        return self.dispatcher.map(method, batches)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        return self._all("generate", requests)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._all("loglikelihood", requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self._all("loglikelihood_rolling", texts)

    def token_scores(self, texts: Sequence[str]) -> list:
        """The replicas' engine's token scores (it refuses them if it cannot give them)."""
        return self._all("token_scores", texts)

    def _all(self, method: str, requests: Sequence) -> list:
        """A plain call (an imperative model.generate, a judge): cut into batches, spread, put back in order."""
        requests = list(requests)
        batches = [requests[i:i + self.batch_size] for i in range(0, len(requests), self.batch_size)]
        results: list = [None] * len(batches)
        for index, outcome in self.map_batches(method, batches):
            results[index] = outcome
        for outcome in results:
            if isinstance(outcome, Exception):
                raise outcome
        return [value for batch in results for value in batch]

    def close(self) -> None:
        """End of session: the replicas go (the cluster itself is ray_cluster's to close)."""
        for actor in self.actors:
            try:
                self.cluster.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
