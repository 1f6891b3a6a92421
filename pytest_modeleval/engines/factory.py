"""The built-in engine for a resolved model: what the plugin's default hook and the CLI both load.

The choice is made in one place, `engine_choice`: `load_engine` dispatches on it and the run
record names it (`engine_name`) before the engine loads.
"""

from __future__ import annotations


def engine_choice(kind: str, choice: str) -> str:
    """The engine a model of this kind runs on under --eval-engine `choice`: openai, lmeval, ray, vllm or hf.

    A served model (openai) and an lm-eval model run on their own; a local checkpoint on what was asked
    for, transformers for `auto`."""
    if kind in ("openai", "lmeval"):
        return kind
    return choice if choice in ("ray", "vllm") else "hf"


def engine_name(kind: str, choice: str) -> str:
    """The engine the run record names before it loads (corrected from its info once it has): Ray's
    replicas are named hf until they report what they run."""
    chosen = engine_choice(kind, choice)
    return "hf" if chosen == "ray" else chosen


def load_engine(resolved, settings):
    """OpenAI-compatible server, an lm-eval model, Ray replicas or vLLM when asked for, else transformers."""
    chosen = engine_choice(resolved.kind, settings.engine)
    if chosen == "openai":
        from .openai_http import DEFAULT_CONCURRENCY, OpenAIEngine

        # --eval-batch-size, when given, bounds the requests in flight; else the engine's default
        explicit = "batch_size" in settings.sources
        return OpenAIEngine(resolved, max_concurrency=settings.batch_size if explicit else DEFAULT_CONCURRENCY)
    if chosen == "lmeval":
        from . import lmeval

        return lmeval.load(resolved, settings)
    if chosen == "ray":
        from . import ray_engine

        return ray_engine.load(resolved, settings)
    if chosen == "vllm":
        from . import vllm

        return vllm.load(resolved, settings)
    from . import hf

    return hf.load(resolved, batch_size=settings.batch_size)
