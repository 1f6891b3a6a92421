"""A model that cannot run is one usage error before collection, naming the reference and the real cause
(issue 27: it was found after collection, as one traceback per test with a misleading root)."""

from __future__ import annotations

import json
import struct

import pytest

from pytest_modeleval.modelref import resolve

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("s", data=[{"q": "hi"}])
def test_s(item, model):
    pass
"""


def truncated_gguf(directory):
    embedded = resolve("embedded").path
    target = directory / "half.gguf"
    with embedded.open("rb") as source:
        target.write_bytes(source.read(embedded.stat().st_size // 2))
    return "half.gguf"


def no_weights(directory):
    (directory / "ckpt").mkdir()
    (directory / "ckpt" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    return "ckpt"


def truncated_safetensors(directory):
    no_weights(directory)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    (directory / "ckpt" / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 10)
    return "ckpt"


@pytest.mark.parametrize("make, cause", [
    (truncated_gguf, "half.gguf is truncated: its tensor data ends before the tensors its header lists"),
    (no_weights, "ckpt has a config.json and no weights"),
    (truncated_safetensors, "model.safetensors is truncated: 83 bytes, its tensors need 137"),
    (lambda _: "openai:http://127.0.0.1:1/v1#m", "the server at http://127.0.0.1:1/v1 does not answer GET /models"),
    (lambda _: "lmeval:hff#pretrained=x", "lm-eval has no model named 'hff' (did you mean 'hf'?)"),
], ids=["truncated-gguf", "no-weights", "truncated-safetensors", "silent-server", "unknown-lmeval-model"])
def test_a_model_that_cannot_run_is_one_usage_error(pytester, make, cause):
    pytester.makepyfile(test_suite=SUITE)
    reference = make(pytester.path)
    result = pytester.runpytest_inprocess(f"--model={reference}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [error] = [line for line in result.errlines if line.startswith("ERROR:")]
    assert error.startswith(f"ERROR: --model {reference}: ") and cause in error, error
    assert "test_s" not in "\n".join(result.outlines), "found before collection"
