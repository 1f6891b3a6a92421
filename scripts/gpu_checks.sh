#!/usr/bin/env bash
# The checks that need a CUDA GPU, on a machine with pytest-modeleval[hf,vllm] installed:
# the vLLM engine against the transformers engine (tests/unit/engines/test_engine_vllm_gpu.py), the engines side by side
# (benchmarks/engines_cpu.py: raw and through the plugin, and lm-eval's vLLM), and the transformers engine's throughput on CUDA. CI has no GPU: it skips the
# first and never runs the benchmarks. Extra arguments go to both benchmarks (e.g. --data FILE).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
status=0
run() { echo "== $*"; "$@" || status=1; }
run "$PYTHON" -m pytest tests/unit/engines/test_engine_vllm_gpu.py -q -rP -p no:cacheprovider
run "$PYTHON" benchmarks/engines_cpu.py --items 1024 --max-tokens 256 --mmlu-items 500 "$@"
run "$PYTHON" benchmarks/throughput_gsm8k.py --items 128 --batch-size 32 "$@"
exit $status
