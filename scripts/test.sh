#!/usr/bin/env bash
# The project's own tests (what CI runs). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export HF_HUB_OFFLINE=1
export MODELEVAL_REQUIRE_BROWSER=1  # the dashboard tests fail, not skip, without the browser install.sh installs
export MODELEVAL_REQUIRE_POSTGRES=1  # the PostgreSQL tests fail, not skip, without the server install.sh installs
exec .venv/bin/pytest tests "$@"
