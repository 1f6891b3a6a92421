#!/usr/bin/env bash
# The project's own tests (what CI runs). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/pytest tests "$@"
