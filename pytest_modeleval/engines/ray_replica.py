"""One engine replica: a Ray actor that loads the model once and then answers batches.

The actor runs the project's own engines (transformers or vLLM) unchanged, so a batch gives
on a replica exactly what it gives in the pytest process. What a replica loads is a plain
picklable callable (`hf_loader`, `vllm_loader`), which is also how the tests give a replica
an engine that fails.
"""

from __future__ import annotations

import functools
import os

from .vllm_setup import CPU_SHARE


class Replica:
    """The actor's body (wrapped with ray.remote by `start`)."""

    def __init__(self, load, threads: int):
        if threads:  # Ray gives an actor OMP_NUM_THREADS=its CPUs; say it to torch as well, when torch is used
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:
                pass
        self.engine = load()

    def info(self):
        return self.engine.info

    def pid(self) -> int:
        return os.getpid()

    def call(self, method: str, requests: list):
        return getattr(self.engine, method)(requests)


def hf_loader(resolved, batch_size: int, device: str):
    return functools.partial(_load_hf, resolved, batch_size, device)


def vllm_loader(resolved, settings, cpu_share: tuple[int, int] | None = None):
    """vLLM in the replica; `cpu_share` (index, count): on a CPU machine shared by `count` replicas, this one's
    share of its cores (as an xdist worker's)."""
    return functools.partial(_load_vllm, resolved, settings, cpu_share)


def _load_hf(resolved, batch_size, device):
    from . import hf

    return hf.load(resolved, batch_size=batch_size, device=device)


def _load_vllm(resolved, settings, cpu_share=None):
    from . import vllm

    if cpu_share is not None:
        os.environ[CPU_SHARE] = "{}/{}".format(*cpu_share)

    return vllm.load(resolved, settings)


def start(ray, load, *, cpus: int = 1, gpus: float = 0, tensor_parallel: int = 1, max_restarts: int = 1):
    """A replica actor. Tensor parallelism (vLLM) holds one GPU bundle per shard in a placement group
    that the actor's child tasks are captured into: vLLM's Ray executor puts its workers there."""
    options = dict(num_cpus=cpus, num_gpus=gpus, max_restarts=max_restarts, max_task_retries=0)
    if tensor_parallel > 1:
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = placement_group([{"GPU": 1, "CPU": 1}] * tensor_parallel, strategy="STRICT_PACK")
        options.update(num_gpus=0, scheduling_strategy=PlacementGroupSchedulingStrategy(
            placement_group=group, placement_group_capture_child_tasks=True))
    return ray.remote(Replica).options(**options).remote(load, cpus)
