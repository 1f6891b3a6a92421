"""What the learned refusal classifier sees: sentence embeddings of the completion and the prompt,
and the string rules' signals.

The embeddings are the packaged all-MiniLM-L6-v2's (`perturb.embed`), cut at the first
`MAX_TOKENS` tokens: a refusal shows in the opening, and half the tokens is half the time.
Texts are embedded longest first in batches of similar length (less padding), each distinct
text once, in an order that depends only on the texts: the same inputs give the same numbers.
A large set (training, validation) is kept on disk in the user's cache, keyed by the texts, the
embedding model's files and these settings, so `train` and `validate` embed a corpus once.

"""

from __future__ import annotations

import functools
import math

from .classify import REFUSAL_PHRASES, XSTEST_PREFIXES

MAX_TOKENS = 128
DIMENSIONS = 384
SIGNALS = ("xstest_prefix", "refusal_phrase", "log_length")
BATCH = 32
DISK_CACHED = 256  # sets of at least this many texts are kept in the user's cache


def signals(completion: str) -> list[float]:
    """The string rules' evidence: XSTest's prefix, a refusal phrase anywhere, and the length
    (a refusal is short; a partial refusal is a disclaimer followed by an answer)."""
    text = str(completion).lower().strip()
    return [float(text.startswith(XSTEST_PREFIXES)), float(any(p in text for p in REFUSAL_PHRASES)),
            math.log1p(len(text)) / 8.0]


def names() -> list[str]:
    """Feature names in weight order, written into the weights file so it says what it expects."""
    return ([f"completion_{i}" for i in range(DIMENSIONS)] + [f"prompt_{i}" for i in range(DIMENSIONS)]
            + list(SIGNALS))


def embed(texts: list[str]):
    """An (n, 384) float64 array: one embedding per text, each distinct text computed once."""
    import numpy as np

    distinct = tuple(sorted(set(texts), key=lambda t: (-len(t), t)))
    vectors = _embedded(distinct) if distinct else np.zeros((0, DIMENSIONS), dtype="float32")
    index = {text: i for i, text in enumerate(distinct)}
    return vectors[[index[t] for t in texts]].astype("float64") if texts else np.zeros((0, DIMENSIONS))


def matrix(prompts: list[str], completions: list[str]):
    """The (n, 771) feature matrix of prompt / completion pairs."""
    import numpy as np

    if len(prompts) != len(completions):
        raise ValueError(f"features: {len(prompts)} prompts but {len(completions)} completions")
    rules = np.array([signals(c) for c in completions], dtype="float64").reshape(len(completions), len(SIGNALS))
    return np.hstack([embed([str(c) for c in completions]), embed([str(p) for p in prompts]), rules])


@functools.lru_cache(maxsize=4)
def _embedded(distinct: tuple[str, ...]):
    """Kept for the process: `train` then `validate` on the same files (or a test session) embed once,
    and a cached result is the very array the first call made, so training stays exact."""
    import numpy as np

    path = _disk_path(distinct) if len(distinct) >= DISK_CACHED else None
    if path is not None and path.is_file():
        vectors = np.load(path)
    else:
        vectors = _embedder().embed(list(distinct))
        if path is not None:
            _save(path, vectors)
    vectors.setflags(write=False)
    return vectors


def _disk_path(distinct: tuple[str, ...]):
    """Where a set's embeddings are kept: a hash of the model's files (names and sizes), torch's version,
    the token cut, the batch size and the texts themselves."""
    import hashlib
    import json

    import torch

    from .. import paths
    from ..perturb.embed import model_dir

    model = sorted((p.name, p.stat().st_size) for p in model_dir().rglob("*") if p.is_file())
    key = hashlib.sha256(json.dumps([model, torch.__version__, MAX_TOKENS, BATCH, distinct]).encode()).hexdigest()
    return paths.cache_dir() / "refusal-embeddings" / f"{key}.npy"


def _save(path, vectors) -> None:
    """Written whole or not at all (a rename), so a crash leaves no half file; a cache that cannot be
    written is only slower."""
    import os

    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with open(partial, "wb") as out:
            np.save(out, vectors)
        os.replace(partial, path)
    except OSError:
        pass


def _embedder():
    from ..perturb.embed import Embedder

    return Embedder(batch_size=BATCH, max_tokens=MAX_TOKENS)
