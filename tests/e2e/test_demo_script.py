"""The demo's pieces: its damaged checkpoint is deterministic and damaged where it says, and
install.sh's second run is silent and instant.

The demo itself (two evaluations of the example suites) is what ./scripts/demo.sh runs; these
tests keep its parts honest without paying for it.
"""

from __future__ import annotations

import hashlib
import importlib.util
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


@pytest.fixture(scope="module")
def damaged():
    pytest.importorskip("transformers")
    return _script("damaged_checkpoint")


def _tiny_llama():
    """A 4-layer Llama with the embedded model's layout, small enough to build in milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(config)


def _state(model) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_damage_is_seeded_and_touches_only_the_first_layers(damaged):
    import torch

    clean = _tiny_llama()
    before = _state(clean)
    first, second, other = _tiny_llama(), _tiny_llama(), _tiny_llama()
    changed = damaged.damage(first, layers=2, scale=0.5, seed=7)
    damaged.damage(second, layers=2, scale=0.5, seed=7)
    damaged.damage(other, layers=2, scale=0.5, seed=8)

    assert changed == sum(1 for _ in first.model.layers[0].parameters()) * 2
    after, again, reseeded = _state(first), _state(second), _state(other)
    for name, tensor in before.items():
        # a constant tensor (a fresh model's norm weights, all ones) has no spread to scale noise by
        in_damaged_layer = name.startswith(("model.layers.0.", "model.layers.1.")) and tensor.std() > 0
        assert torch.equal(after[name], again[name]), f"{name}: the same seed gave different weights"
        assert torch.equal(after[name], tensor) != in_damaged_layer, name
        if in_damaged_layer:
            assert not torch.equal(after[name], reseeded[name]), f"{name}: another seed gave the same noise"
            # noise at half each tensor's own spread: a real change, not a rounding error or a wipe-out
            ratio = ((after[name] - tensor).std() / tensor.std()).item()
            assert 0.3 < ratio < 0.7, (name, ratio)


def _stamp(root: Path) -> str:
    torch_spec = os.environ.get("TORCH_SPEC", "torch==2.13.0")
    text = (root / "pyproject.toml").read_bytes() + (root / "scripts" / "install.sh").read_bytes()
    return hashlib.sha256(text + torch_spec.encode() + b"\n").hexdigest()


def test_a_second_install_is_silent_and_instant(tmp_path):
    """With the system packages present and the stamp matching, install.sh prints nothing and does nothing."""
    have = [shutil.which("bwrap"), shutil.which("chromium"), list(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
            or shutil.which("postgres")]
    if not all(have):
        pytest.skip("a system package install.sh installs is missing here; its first run would install it")
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copy(ROOT / "scripts" / "install.sh", copy / "scripts")
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
