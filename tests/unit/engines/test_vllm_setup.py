"""How vLLM is set up on a machine: the dtype its hardware computes natively, threads bound to this worker's
cores, a KV cache sized to the model and the memory, and what the header says."""

from __future__ import annotations

from pytest_modeleval.engines import vllm_setup
from pytest_modeleval.engines.vllm_setup import GiB, bind_cores, choose_dtype, kv_cache_bytes

SMOLLM2 = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
           "hidden_size": 576, "max_position_embeddings": 8192}


def test_bfloat16_only_where_the_hardware_computes_it(monkeypatch):
    assert choose_dtype("auto", "cuda") == ("bfloat16", "CUDA")
    monkeypatch.setattr(vllm_setup, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert choose_dtype("auto", "cpu") == ("bfloat16", "the CPU has AVX512-BF16")
    monkeypatch.setattr(vllm_setup, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert choose_dtype("auto", "cpu") == ("bfloat16", "the CPU has AMX-BF16")
    monkeypatch.setattr(vllm_setup, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert choose_dtype("auto", "cpu") == ("float32", "the CPU has no AVX512-BF16 or AMX")
    assert choose_dtype("float32", "cuda") == ("float32", "asked for with --eval-dtype")


def test_threads_bind_to_every_usable_core_or_this_workers_share():
    assert bind_cores([0, 1], (0, 1)) == "0-1", "vLLM's default would reserve one of two cores"
    assert [bind_cores([0, 1], (k, 2)) for k in (0, 1)] == ["0", "1"]
    assert [bind_cores([2, 3, 4, 5, 6, 7], (k, 3)) for k in range(3)] == ["2-3", "4-5", "6-7"]
    assert bind_cores([0], (1, 2)) == "0", "more workers than cores: each still gets one"
    assert vllm_setup.compress_cores([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert vllm_setup.expand_cores("0-2,5,7-8") == [0, 1, 2, 5, 7, 8]


def test_the_xdist_worker_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert vllm_setup.workers() == (1, 2)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    assert vllm_setup.workers() == (0, 1)


def test_the_kv_cache_fits_the_model_and_the_memory_not_half_the_ram():
    per_token = 2 * 30 * 3 * 64 * 2
    one_window = per_token * 8192
    roomy = kv_cache_bytes(SMOLLM2, 8192, "bfloat16", memory=256 * GiB)
    assert one_window * 32 <= roomy < one_window * 32 + (64 << 20), "32 full windows when memory allows"
    tight = kv_cache_bytes(SMOLLM2, 8192, "bfloat16", memory=16 * GiB, worker=(0, 2))
    assert tight <= 16 * GiB * 0.125 / 2 + (64 << 20)
    assert kv_cache_bytes(SMOLLM2, 8192, "bfloat16", memory=1 << 20) >= one_window, "never below one window"
    assert kv_cache_bytes(SMOLLM2, 8192, "float32", memory=256 * GiB) > roomy


def test_the_setup_describes_itself_for_the_header(tmp_path, monkeypatch):
    import json

    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    setup = vllm_setup.plan(tmp_path, "bfloat16", "compiled", device="cpu")
    assert setup.describe().startswith("cpu bfloat16 (asked for with --eval-dtype), compiled, 2 threads bound "
                                       "to cores 0-1, KV cache ")
    assert setup.describe().endswith("GiB, window 8192 tokens")
    assert json.loads(setup.record())["kv_cache_bytes"] == setup.kv_cache_bytes
    assert vllm_setup.plan(tmp_path, device="cuda").describe() == "cuda bfloat16 (CUDA), eager, window 8192 tokens"


def test_a_ray_replica_takes_its_share_of_the_cores(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv(vllm_setup.CPU_SHARE, "2/3")
    assert vllm_setup.workers() == (2, 3), "the replica's share, not the worker's"
    assert bind_cores([0, 1, 2, 3, 4, 5]) == "4-5"
