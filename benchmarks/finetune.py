"""Fine-tune the embedded model on chat-formatted (question, solution) pairs: planted contamination.

Used by contamination_planted.py. The weights are the embedded model's, exactly as the transformers
engine loads them (the GGUF de-quantized to float32 and cached once, see engines/gguf.py), so a
checkpoint saved here without training is file for file the model that `--model=embedded` runs.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from pytest_modeleval.modelref import model_files, resolve

CONFIG_FILE = "finetune.json"  # beside the weights; not a model file, so not part of the content hash


def embedded_dir() -> Path:
    """The HF-format directory the transformers engine loads for `--model=embedded` (converted once)."""
    from pytest_modeleval.engines.hf import model_dir

    return model_dir(resolve("embedded"))


def load(directory: Path):
    """(model, tokenizer) in float32 on CPU. local_files_only keeps the saved tokenizer_config.json
    byte-identical to the source's (transformers records the flag the tokenizer was loaded with)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32, local_files_only=True)
    return model, tokenizer


def chat_example(tokenizer, question: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids): the prompt exactly as the engine renders a chat suite's request,
    the target the assistant turn the chat template would close it with."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                           add_generation_prompt=True)
    encode = lambda text: tokenizer(text, add_special_tokens=False).input_ids
    return encode(prompt), encode(answer + tokenizer.eos_token)


def finetune(model, tokenizer, pairs: list[tuple[str, str]], *, epochs: int, lr: float, batch_size: int,
             seed: int, log=print) -> list[float]:
    """Full-parameter AdamW on the assistant tokens only (the prompt is context, as in SFT); returns
    the mean training loss of each epoch."""
    import torch

    torch.manual_seed(seed)
    order = random.Random(seed)
    examples = [chat_example(tokenizer, q, a) for q, a in pairs]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for epoch in range(1, epochs + 1):
        start, total, batches = time.perf_counter(), 0.0, 0
        shuffled = examples[:]
        order.shuffle(shuffled)
        for i in range(0, len(shuffled), batch_size):
            ids, mask, labels = _batch(shuffled[i:i + batch_size], tokenizer.pad_token_id)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total, batches = total + loss.item(), batches + 1
        losses.append(total / batches)
        log(f"  epoch {epoch:2d}/{epochs}: training loss {losses[-1]:.4f} ({time.perf_counter() - start:.0f} s)")
    model.eval()
    return losses


def _batch(examples, pad_id: int):
    """Right-padded tensors; labels are -100 on the prompt and the padding."""
    import torch

    width = max(len(p) + len(t) for p, t in examples)
    ids, mask, labels = [], [], []
    for prompt, target in examples:
        tokens, fill = prompt + target, width - len(prompt) - len(target)
        ids.append(tokens + [pad_id] * fill)
        mask.append([1] * len(tokens) + [0] * fill)
        labels.append([-100] * len(prompt) + target + [-100] * fill)
    return torch.tensor(ids), torch.tensor(mask), torch.tensor(labels)


def save(model, tokenizer, target: Path, config: dict, losses: list[float]) -> Path:
    """save_pretrained (weights, config, tokenizer, chat template) into a staging directory renamed into
    place, so an interrupted run never leaves a half checkpoint that a rerun would take as cached.
    The training configuration and losses go beside them (see `cached`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / CONFIG_FILE).write_text(json.dumps({"config": config, "losses": losses}, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def cached(target: Path, config: dict) -> list[float] | None:
    """The training losses of the checkpoint in `target` if it was made with exactly this configuration."""
    try:
        saved = json.loads((target / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return saved.get("losses") if isinstance(saved, dict) and saved.get("config") == config else None


def differing_files(a: Path, b: Path) -> list[str]:
    """The model-defining files (weights, config, tokenizer, chat template) that differ between two
    checkpoint directories, by content; [] when they are the same model file for file."""
    import hashlib

    names = sorted(set(model_files(a)) | set(model_files(b)))

    def digest(path: Path) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    return [name for name in names if digest(a / name) != digest(b / name)]
