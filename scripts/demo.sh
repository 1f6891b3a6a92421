#!/usr/bin/env bash
# The main job: the example suites on the embedded default model, ending with the summary.
# Extra arguments go to pytest (e.g. --eval-limit 4, --junitxml=report.xml).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/pytest example_suites --model=embedded --judge=embedded --judge-allow-self "$@"
