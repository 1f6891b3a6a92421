"""The built-in engine for a resolved model: what the plugin's default hook and the CLI both load."""

from __future__ import annotations


def load_engine(resolved, settings):
    """OpenAI-compatible server, an lm-eval model, vLLM when asked for, else transformers."""
    if resolved.kind == "openai":
        from .openai_http import DEFAULT_CONCURRENCY, OpenAIEngine

        # --eval-batch-size, when given, bounds the requests in flight; else the engine's default
        explicit = "batch_size" in settings.sources
        return OpenAIEngine(resolved, max_concurrency=settings.batch_size if explicit else DEFAULT_CONCURRENCY)
    if resolved.kind == "lmeval":
        from . import lmeval

        return lmeval.load(resolved, settings)
    if settings.engine == "ray":
        from . import ray_engine

        return ray_engine.load(resolved, settings)
    if settings.engine == "vllm":
        from . import vllm

        return vllm.load(resolved, settings)
    from . import hf

    return hf.load(resolved, batch_size=settings.batch_size)
