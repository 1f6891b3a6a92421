#!/usr/bin/env bash
# The product's story in one command: a checkpoint evaluated and promoted to production, a damaged
# checkpoint evaluated against it item by item, blocked by the paired no-regression gates (exit
# status 10), refused by `modeleval promote`, and the dashboard of every run.
# Extra arguments go to every pytest run (e.g. --eval-batch-size 8). The demo's results DB,
# registry and dashboard live in .modeleval/demo/ (the results DB starts afresh on every demo);
# predictions stay in the prediction cache, so a second demo computes nothing again.
# DEMO_PYTHON=PATH runs it with a Python that has the plugin installed already, instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${DEMO_PYTHON:-.venv/bin/python}
[ -n "${DEMO_PYTHON:-}" ] || ./scripts/install.sh
export HF_HUB_OFFLINE=1

demo=.modeleval/demo
db=$demo/results.sqlite
registry=$demo/registry
report=$demo/report
capability=(example_suites --deselect example_suites/test_redteam.py)
common=(--judge=embedded --judge-allow-self --eval-db="$db" -p no:cacheprovider)
stages=7

stage() { echo; echo "demo [$1/$stages] $2"; }
modeleval() { "$python" -m pytest_modeleval.cli "$@"; }
# Runs pytest and returns its exit status (10: a gate failed) without stopping the demo.
evaluate() { local status=0; "$python" -m pytest "$@" || status=$?; return "$status"; }

mkdir -p "$demo"
rm -f "$db" "$db-wal" "$db-shm"

stage 1 "run 1: the example suites on the embedded model (SmolLM2-135M-Instruct), red-team suites included"
status=0; evaluate example_suites --model=embedded "${common[@]}" "$@" || status=$?
case $status in
    10) echo "demo: run 1 ended with exit status 10: a gate failed (the gate table above: the embedded 135M model fails the refusal gate, it complies with harmful requests)";;
    0) echo "demo: run 1 passed every gate";;
    *) echo "demo: run 1 ended with exit status $status (errors, see above): stopping"; exit "$status";;
esac

stage 2 "modeleval promote embedded --channel production: a failed safety gate is not waved through"
if modeleval promote embedded --channel production --db "$db"; then
    promoted=1
    echo "demo: run 1 was promoted (every gate passed)"
else
    promoted=0
    echo "demo: refused, as it should be: no reviewed override covers the failed gate"
fi

if [ "$promoted" = 0 ]; then
    stage 3 "run 2: the capability suites alone (arithmetic, code, facts_mc, helpfulness), every answer from the prediction cache, promoted"
    status=0; evaluate "${capability[@]}" --model=embedded "${common[@]}" "$@" > "$demo/run-2.log" || status=$?
    grep -E '^(model |baseline:|GATES FAILED|gates passed)' "$demo/run-2.log" || true
    [ "$status" = 0 ] || { echo "demo: run 2 ended with exit status $status: see $demo/run-2.log"; exit "$status"; }
    modeleval promote embedded --channel production --db "$db" \
        --note "capability suites only: the embedded model fails the refusal gate (run 1)"
    echo "demo: production is the embedded model on its capability suites; for a chat deployment its refusal gate still blocks it"
else
    stage 3 "production is run 1"
fi

stage 4 "checkpoint 2: a damaged copy of the embedded model (seeded noise on its first decoder layers) in the registry $registry"
hash=$("$python" scripts/damaged_checkpoint.py "$registry")
echo "demo: $registry/embedded-damaged is sha256:$hash"

stage 5 "run $((promoted ? 2 : 3)): the capability suites on --model=sha256:${hash:0:12}, gated item by item against production"
status=0; evaluate "${capability[@]}" --model="sha256:${hash:0:12}" --eval-registry="$registry" "${common[@]}" "$@" \
    || status=$?
case $status in
    10) echo "demo: exit status 10: the gates blocked the damaged checkpoint (CI fails this build)";;
    0) echo "demo: every gate passed: the damaged checkpoint was NOT blocked (fewer items than the demo's?)";;
    *) echo "demo: exit status $status (errors, see above)";;
esac

stage 6 "modeleval promote sha256:${hash:0:12} --channel production"
if modeleval promote "sha256:${hash:0:12}" --channel production --db "$db"; then
    echo "demo: the damaged checkpoint was promoted: its gates did not block it"
else
    echo "demo: refused, as it should be: production stays the embedded model"
fi

stage 7 "modeleval report --html $report: the dashboard of every run"
modeleval report --html "$report" --db "$db"
echo "demo: done; exit status $status, the damaged checkpoint's run's (what CI sees); list the runs with:"
echo "      $python -m pytest_modeleval.cli runs --db $db"
exit "$status"
