"""GGUF checkpoints, converted once to an HF directory and reused.

transformers de-quantizes a GGUF file on every load (about 20 s for the embedded
model on two cores); saving the converted weights under the cache directory, keyed
by the file's content hash, makes every later load take well under a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..paths import cache_dir

_COMPLETE = ".complete"


def converted_dir(sha256: str) -> Path:
    return cache_dir() / "converted" / sha256[:32]


def is_converted(sha256: str) -> bool:
    return (converted_dir(sha256) / _COMPLETE).exists()


def ensure_converted(gguf_path: Path, sha256: str) -> Path:
    """The HF-format directory for a GGUF file, converting it on first use.

    Written to a temporary sibling and renamed into place, so concurrent pytest-xdist
    workers never see half a checkpoint.
    """
    target = converted_dir(sha256)
    if is_converted(sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        _convert(gguf_path, staging)
        (staging / _COMPLETE).write_text(gguf_path.name + "\n")
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first; its copy is identical
            if not (target / _COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert(gguf_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    # The weights are de-quantized already; drop the GGUF marker that forbids saving them.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
