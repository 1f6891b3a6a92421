#!/usr/bin/env bash
# The project's own tests (what CI runs). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export HF_HUB_OFFLINE=1
export MODELEVAL_REQUIRE_BROWSER=1  # the dashboard tests fail, not skip, without the browser install.sh installs
export MODELEVAL_REQUIRE_POSTGRES=1  # the PostgreSQL tests fail, not skip, without the server install.sh installs
# the vLLM tests fail, not skip, where install.sh installed vLLM's CPU backend (x86-64 Linux with AVX2/AVX-512)
[ -e .venv/.modeleval-vllm ] && export MODELEVAL_REQUIRE_VLLM=1
# The package's layers first (the [tool.importlinter] contract in pyproject.toml, docs/architecture.md): a wrong
# import fails here naming the rule it broke. tests/unit/test_architecture.py runs it again among the tests.
.venv/bin/lint-imports --no-logo
# The types of runtime/, plugin/, gates/, results/ and engines/ ([tool.mypy] in pyproject.toml).
.venv/bin/mypy
# Two workers, one torch thread each: on 2 cores that is 10-11 min against 27 min in one process (the Ray tests
# share one worker, xdist_group "ray"). MODELEVAL_TEST_WORKERS=0 runs in one process.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/pytest tests -n "${MODELEVAL_TEST_WORKERS:-2}" --dist loadgroup "$@"
