#!/usr/bin/env bash
# Fetch the charting library `modeleval report` uses (pinned by dashboard/package-lock.json) and copy
# its minified UMD build into the package, where it is committed: `pip install` then needs no npm,
# and the dashboard opens offline. Run it after changing the pin in dashboard/package.json
# (`npm install --package-lock-only` there first); tests/unit/report/test_report_assets.py checks the copy.
set -euo pipefail
cd "$(dirname "$0")/../dashboard"
npm ci --no-audit --no-fund --ignore-scripts
static=../pytest_modeleval/report/static
cp node_modules/chart.js/dist/chart.umd.min.js "$static/chart.umd.min.js"
cp node_modules/chart.js/LICENSE.md "$static/chart.js-LICENSE.md"
echo "copied Chart.js $(node -p 'require("./node_modules/chart.js/package.json").version') into pytest_modeleval/report/static/"
