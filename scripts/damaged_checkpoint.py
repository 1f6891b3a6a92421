"""Write the demo's second checkpoint: the embedded model with a few layers' weights perturbed.

A deliberately bad checkpoint the promotion gates must block: the same architecture, tokenizer and
chat template as `--model=embedded`, with seeded noise added to every weight of the first LAYERS
decoder layers.

    python scripts/damaged_checkpoint.py REGISTRY_DIR     # prints the checkpoint's sha256

Its content hash is the same on every machine and with every library version, so the README's hash is
the one a user sees. Hence every file is written here byte by byte, not with save_pretrained (which
stamps transformers' version into config.json and lays files out as its version does):
- the weights: the embedded model's float32 tensors (its GGUF de-quantized once, engines/gguf.py),
  written in sorted order in safetensors' format by `write_safetensors`;
- the noise: uniform, drawn from numpy's PCG64 bit generator (whose raw stream numpy keeps stable)
  and applied with IEEE-exact operations only (no log or cos, whose last bit differs between
  numpy builds), each tensor's spread summed exactly with math.fsum;
- config.json, generation_config.json and tokenizer_config.json: ours, below, with sorted keys;
- tokenizer.json and chat_template.jinja: built from the GGUF file's own vocabulary, merges and
  template (transformers 4.57 converts the GGUF into a tokenizer that adds a BOS token, 5.x into one
  that does not; ours is the 5.x one, the embedded model as this project runs it).
A library change that still moves the hash fails tests/e2e/test_demo_script.py, which names the file.

The checkpoint is saved as `REGISTRY_DIR/embedded-damaged/`, an HF-format directory that
`--model=sha256:<prefix> --eval-registry=REGISTRY_DIR` finds by hash (docs/model-references.md).
The settings are recorded beside the weights in `finetune.json` (benchmarks/finetune.py's record
of how a checkpoint was made; not a model file, so not part of the hash), and an existing checkpoint
made with the same settings is kept (it is only hashed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.finetune import CONFIG_FILE, cached, embedded_dir  # noqa: E402
from pytest_modeleval.modelref import content_hash, embedded_gguf_path  # noqa: E402

NAME = "embedded-damaged"
LAYERS = 6       # the first decoder layers, where damage propagates through everything after them
SCALE = 0.5      # noise standard deviation, as a fraction of each weight tensor's own standard deviation
SEED = 20260101
FORMAT = 2       # in finetune.json: 1 was save_pretrained's checkpoint, rewritten on the next demo

# SmolLM2-135M-Instruct's architecture as its own hub config.json states it (the form every transformers
# version reads), with the GGUF's float32 rms_norm_eps; tests check it against the converted model's.
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "head_dim": 64, "hidden_act": "silu", "hidden_size": 576, "initializer_range": 0.02,
    "intermediate_size": 1536, "max_position_embeddings": 8192, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "pad_token_id": 2,
    "pretraining_tp": 1, "rms_norm_eps": 9.999999747378752e-06, "rope_scaling": None, "rope_theta": 100000.0,
    "tie_word_embeddings": True, "torch_dtype": "float32", "unk_token_id": 0, "use_cache": True,
    "vocab_size": 49152,
}
GENERATION_CONFIG = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
TOKENIZER_CONFIG = {
    "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
    "clean_up_tokenization_spaces": False, "tokenizer_class": "PreTrainedTokenizerFast",
}
# tokenizer.json around the GGUF's vocabulary: a byte-level BPE, as transformers 5 converts SmolLM2's GGUF.
BYTE_LEVEL = {"add_prefix_space": False, "trim_offsets": True, "type": "ByteLevel", "use_regex": True}
TOKENIZER_FRAME = {
    "version": "1.0", "truncation": None, "padding": None, "normalizer": None, "pre_tokenizer": BYTE_LEVEL,
    "decoder": {**BYTE_LEVEL, "add_prefix_space": True},
    "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {}},
}
BPE = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
       "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
CONTROL = 3  # GGUF's token type of a special token


def damage(tensors: dict, layers: int = LAYERS, scale: float = SCALE, seed: int = SEED) -> int:
    """Add seeded noise to every tensor of the first `layers` decoder layers, in place; the number changed.

    The noise is uniform with standard deviation `scale` times the tensor's own: portable where a
    Gaussian's transform (log, cos) is not, and as damaging at the same spread.
    """
    import numpy as np

    prefixes = tuple(f"model.layers.{i}." for i in range(layers))
    bits = np.random.PCG64(seed)
    changed = 0
    for name in sorted(tensors):
        if not name.startswith(prefixes):
            continue
        weight = tensors[name].astype(np.float64)
        uniform = (bits.random_raw(weight.size) >> np.uint64(11)).astype(np.float64) * 2.0**-53  # [0, 1), exact
        noise = (uniform.reshape(weight.shape) - 0.5) * (math.sqrt(12.0) * scale * _std(weight))
        tensors[name] = (weight + noise).astype(tensors[name].dtype)
        changed += 1
    return changed


def _std(values) -> float:
    """The population standard deviation, summed exactly (numpy's own sum order varies by build)."""
    flat = values.ravel()
    mean = math.fsum(flat) / flat.size
    deviation = flat - mean
    return math.sqrt(math.fsum(deviation * deviation) / flat.size)


_DTYPES = {"float32": "F32", "float16": "F16"}


def write_safetensors(tensors: dict, path: Path) -> None:
    """safetensors' format (a u64 header length, a JSON header padded to 8 bytes, the raw little-endian
    data), tensors in sorted order and `{"format": "pt"}` metadata (transformers requires it): the same
    bytes for the same tensors whatever safetensors version is installed."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(tensors):
        size = tensors[name].nbytes
        header[name] = {"dtype": _DTYPES[tensors[name].dtype.name], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        for name in sorted(tensors):
            out.write(tensors[name].astype(tensors[name].dtype.newbyteorder("<"), copy=False).tobytes())


def _json(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def tokenizer_files(gguf: Path) -> dict[str, str]:
    """tokenizer.json and chat_template.jinja from a GGUF file's tokenizer metadata."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf)).fields

    def values(key: str) -> list:
        field = fields[key]
        return [field.parts[i] for i in field.data]

    tokens = [bytes(part).decode("utf-8") for part in values("tokenizer.ggml.tokens")]
    kinds = [int(part[0]) for part in values("tokenizer.ggml.token_type")]
    merges = [bytes(part).decode("utf-8").split(" ") for part in values("tokenizer.ggml.merges")]
    special = [{"id": i, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, (token, kind) in enumerate(zip(tokens, kinds))
               if kind == CONTROL]
    tokenizer = {**TOKENIZER_FRAME, "added_tokens": special,
                 "model": {**BPE, "vocab": {token: i for i, token in enumerate(tokens)}, "merges": merges}}
    template = bytes(values("tokenizer.chat_template")[0]).decode("utf-8")
    return {"tokenizer.json": _json(tokenizer), "chat_template.jinja": template}


def write(registry: Path, layers: int = LAYERS, scale: float = SCALE, seed: int = SEED) -> Path:
    """The damaged checkpoint's directory in `registry`, written unless it is there already.

    Written into a staging directory renamed into place, so an interrupted run leaves no half checkpoint.
    """
    from safetensors.numpy import load_file

    target = registry / NAME
    config = {"source": "embedded", "layers": layers, "scale": scale, "seed": seed, "format": FORMAT}
    if cached(target, config) is not None:
        return target
    tensors = load_file(str(embedded_dir() / "model.safetensors"))
    damage(tensors, layers, scale, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write_safetensors(tensors, staging / "model.safetensors")
        files = {"config.json": _json(CONFIG), "generation_config.json": _json(GENERATION_CONFIG),
                 "tokenizer_config.json": _json(TOKENIZER_CONFIG), **tokenizer_files(embedded_gguf_path())}
        for name, text in files.items():
            (staging / name).write_bytes(text.encode("utf-8"))
        (staging / CONFIG_FILE).write_text(json.dumps({"config": config, "losses": []}, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("registry", type=Path, help="registry directory to write the checkpoint into")
    parser.add_argument("--layers", type=int, default=LAYERS, help=f"decoder layers perturbed (default {LAYERS})")
    parser.add_argument("--scale", type=float, default=SCALE, help=f"noise scale (default {SCALE})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"noise seed (default {SEED})")
    args = parser.parse_args(argv)
    target = write(args.registry, args.layers, args.scale, args.seed)
    print(content_hash(target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
