"""How vLLM is set up on this machine: device, dtype, threads, KV cache and execution mode, decided once.

vLLM's own defaults suit a server that owns the machine: on a CPU it reserves a core, takes half the RAM
for its KV cache and compiles for a minute. An eval run shares the machine with pytest (and with other
xdist workers), so these choices are made here, from what this process may use, and recorded with the run.
Nothing here imports vLLM.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

GiB = 1 << 30
# The KV cache holds at least one full-window sequence and aims at this many; a run's prompts are mostly far
# shorter than the window, so this is room for hundreds of prompts in flight.
KV_SEQUENCES = 32
# ... within this share of the memory this process may use, split between xdist workers.
KV_MEMORY_SHARE = 0.125
KV_ROUND = 64 << 20
CPU_SHARE = "MODELEVAL_CPU_SHARE"  # "K/N": this process is the K-th of N sharing the cores (a Ray replica)


@dataclass(frozen=True)
class VLLMSetup:
    """What the engine passes to vLLM, and what the header and the runs row say about it."""

    device: str              # "cpu" or "cuda"
    dtype: str               # "bfloat16", "float32" or "float16"
    dtype_reason: str        # why that dtype ("AVX512-BF16", "asked for with --eval-dtype", ...)
    mode: str                # "eager" or "compiled"
    cores: str | None        # CPU only: the cores vLLM's threads are bound to (VLLM_CPU_OMP_THREADS_BIND)
    kv_cache_bytes: int      # CPU only: vLLM's KV cache (kv_cache_memory_bytes); 0 for vLLM's own sizing
    max_model_len: int

    def describe(self) -> str:
        """One line for the header: device, dtype and why, mode, threads, and (once known) KV cache and window."""
        where = f"{self.device} {self.dtype} ({self.dtype_reason}), {self.mode}"
        if self.device == "cpu":
            threads = len(expand_cores(self.cores or ""))
            where += f", {threads} thread{'s' * (threads != 1)} bound to cores {self.cores}"
        if self.kv_cache_bytes:
            where += f", KV cache {self.kv_cache_bytes / GiB:.2f} GiB"
        return where + (f", window {self.max_model_len} tokens" if self.max_model_len else "")

    def record(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def plan(model_dir: Path | None, dtype: str = "auto", mode: str = "eager", device: str | None = None) -> VLLMSetup:
    """The setup for this model on this machine; `dtype` and `mode` as --eval-dtype / --eval-vllm-mode say.
    Without a model directory (the header, before the model is converted) the KV cache and window are 0."""
    device = device or detect_device()
    chosen, reason = choose_dtype(dtype, device)
    config = _model_config(model_dir) if model_dir is not None else {}
    window = int(config.get("max_position_embeddings") or 2048) if model_dir is not None else 0
    cores, kv = None, 0
    if device == "cpu":
        cores = os.environ.get("VLLM_CPU_OMP_THREADS_BIND") or bind_cores()
        if model_dir is not None:
            kv = kv_cache_bytes(config, window, chosen, available_memory(), workers())
    return VLLMSetup(device, chosen, reason, mode, cores, kv, window)


def apply_environment(setup: VLLMSetup) -> None:
    """What vLLM reads from the environment, set before it spawns its engine process: the thread binding,
    a compile cache under our cache directory (kept between runs), and warnings only in the terminal."""
    from ..paths import cache_dir

    if setup.cores:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = setup.cores
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_dir() / "vllm"))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def detect_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_dtype(requested: str, device: str) -> tuple[str, str]:
    """bfloat16 where the hardware computes it natively (CUDA, AVX512-BF16 or AMX), float32 elsewhere: vLLM's
    CPU kernels emulate bfloat16 slowly without those instructions."""
    if requested != "auto":
        return requested, "asked for with --eval-dtype"
    if device == "cuda":
        return "bfloat16", "CUDA"
    flags = cpu_flags()
    for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16")):
        if flag in flags:
            return "bfloat16", f"the CPU has {name}"
    return "float32", "the CPU has no AVX512-BF16 or AMX"


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity mask, which a container or taskset narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def workers() -> tuple[int, int]:
    """(this process's index, how many share the machine's cores): a Ray replica's CPU_SHARE ("K/N"), else the
    pytest-xdist worker; (0, 1) otherwise."""
    share = os.environ.get(CPU_SHARE, "")
    if share:
        first, _, last = share.partition("/")
        return int(first) % max(int(last), 1), max(int(last), 1)
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % max(count, 1), max(count, 1)


def bind_cores(cores: list[int] | None = None, worker: tuple[int, int] | None = None) -> str:
    """vLLM's thread binding: every usable core, or this xdist worker's share of them (at least one), so
    that two workers' engines do not fight over the same cores. vLLM's own default would leave one out."""
    cores = usable_cores() if cores is None else cores
    index, count = workers() if worker is None else worker
    if count > 1:
        share = max(1, len(cores) // count)
        start = (index * share) % len(cores)
        cores = cores[start:start + share]
    return compress_cores(cores)


def compress_cores(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the form VLLM_CPU_OMP_THREADS_BIND takes)."""
    runs: list[list[int]] = []
    for core in sorted(cores):
        if runs and core == runs[-1][1] + 1:
            runs[-1][1] = core
        else:
            runs.append([core, core])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def expand_cores(text: str) -> list[int]:
    cores: list[int] = []
    for part in filter(None, text.replace("|", ",").split(",")):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


def available_memory() -> int:
    """Bytes this machine can still give (MemAvailable), or its total where that is not known."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def kv_cache_bytes(config: dict, window: int, dtype: str, memory: int, worker: tuple[int, int] = (0, 1)) -> int:
    """Enough KV cache for KV_SEQUENCES full-window sequences, within KV_MEMORY_SHARE of the memory (split
    between workers), and never less than one full-window sequence (vLLM refuses to start with less)."""
    per_token = kv_bytes_per_token(config, dtype)
    one = per_token * window
    wanted = min(one * KV_SEQUENCES, int(memory * KV_MEMORY_SHARE / worker[1]))
    return -(-max(one, wanted) // KV_ROUND) * KV_ROUND


def kv_bytes_per_token(config: dict, dtype: str) -> int:
    """Keys and values of every layer for one token."""
    heads = int(config.get("num_attention_heads") or 1)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or int(config.get("hidden_size", 0)) // heads or 64)
    layers = int(config.get("num_hidden_layers") or 1)
    return 2 * layers * kv_heads * head_dim * (4 if dtype == "float32" else 2)


def _model_config(model_dir: Path) -> dict:
    try:
        return json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
