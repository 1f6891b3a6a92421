"""A model reference checked once before collection: a model that cannot run is one error naming its real cause.

Without this, a bad checkpoint is found when the first test needs the engine, after collection, and every
test of the run reports the same failure with a misleading root (a truncated GGUF fails in numpy with
"cannot reshape array"; a directory without weights asks to install sentencepiece). The checks read
headers, not weights, so they cost milliseconds; a served model is asked for its model list once.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from .base import EngineError

WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "model*.bin", "*.pt", "*.pth")
SERVER_TIMEOUT = 10.0  # seconds a served model has to answer GET /models


def probe(resolved) -> None:
    """Raise EngineError saying why this model cannot run; return when it looks runnable."""
    if resolved.kind in ("embedded", "gguf"):
        from .gguf import is_converted

        if not is_converted(resolved.sha256):  # a converted one was read whole then
            check_gguf(Path(resolved.path))
    elif resolved.kind in ("hf-dir", "hf-cache"):
        check_hf_dir(Path(resolved.path))
    elif resolved.kind == "openai":  # a fleet runs on the endpoints that answer: one is enough to start
        errors = []
        for url in resolved.urls:
            try:
                return check_server(url)
            except EngineError as exc:
                errors.append(str(exc))
        raise EngineError("; ".join(errors))
    elif resolved.kind == "lmeval":
        check_lmeval_model(resolved.lm_name)


def check_gguf(path: Path) -> None:
    """The file is a GGUF whose tensors all lie within it."""
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise EngineError(f"{path} is not a GGUF file (it does not start with the GGUF magic)")
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except ValueError as exc:
        if "cannot reshape" in str(exc):
            raise EngineError(f"{path} is truncated: its tensor data ends before the tensors its header lists "
                              f"({path.stat().st_size:,} bytes)") from None
        raise EngineError(f"{path} is not a readable GGUF file: {exc}") from None
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    if end > path.stat().st_size:
        raise EngineError(f"{path} is truncated: {path.stat().st_size:,} bytes, its tensors need {end:,}")


def check_hf_dir(path: Path) -> None:
    """A config.json and weights, each safetensors file as long as its header says."""
    if not (path / "config.json").is_file():
        raise EngineError(f"{path} has no config.json: not a Hugging Face checkpoint directory")
    weights = [file for pattern in WEIGHTS for file in sorted(path.glob(pattern))]
    if not weights:
        raise EngineError(f"{path} has a config.json and no weights (no {', '.join(WEIGHTS)})")
    for file in weights:
        if file.suffix == ".safetensors":
            check_safetensors(file)


def check_safetensors(path: Path) -> None:
    """The header parses and the data it describes fits in the file."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise EngineError(f"{path} is truncated: {size} bytes, not even a safetensors header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise EngineError(f"{path} is truncated: its header alone needs {length + 8:,} bytes, it has {size:,}")
        try:
            header = json.loads(handle.read(length))
        except ValueError as exc:
            raise EngineError(f"{path} is not a safetensors file: its header is not JSON ({exc})") from None
    end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    if 8 + length + end > size:
        raise EngineError(f"{path} is truncated: {size:,} bytes, its tensors need {8 + length + end:,}")


def check_server(url: str) -> None:
    """The OpenAI-compatible server answers GET {url}/models."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/models", timeout=SERVER_TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise EngineError(f"the server at {url} answers GET /models with HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EngineError(f"the server at {url} does not answer GET /models: {reason}") from None


def check_lmeval_model(name: str) -> None:
    """lm-eval's registry has a model of this name."""
    try:
        from lm_eval.api.registry import MODEL_REGISTRY
        import lm_eval.models  # noqa: F401 - registers the built-in models
    except ImportError:
        raise EngineError("lmeval: references need lm-evaluation-harness: pip install 'pytest-modeleval[lmeval]'") \
            from None
    if name not in MODEL_REGISTRY:
        from difflib import get_close_matches

        close = get_close_matches(name, list(MODEL_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EngineError(f"lm-eval has no model named {name!r}{hint}")
