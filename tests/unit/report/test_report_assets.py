"""The dashboard's committed assets: Chart.js is the build the npm lock pins, and nothing loads from the network."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pytest_modeleval.report import pages, site
from testpaths import REPO

ROOT = REPO


def test_the_committed_chart_js_is_the_version_the_lock_pins():
    lock = json.loads((ROOT / "dashboard" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/chart.js"]["version"]
    wanted = json.loads((ROOT / "dashboard" / "package.json").read_text())["dependencies"]["chart.js"]
    assert wanted == pinned  # an exact pin, so `npm ci` always copies the same file
    text = (site.STATIC / "chart.umd.min.js").read_text(encoding="utf-8")
    banner = re.match(r"/\*!\s*\n\s*\* Chart\.js v(\S+)", text)
    assert banner and banner.group(1) == pinned, "run scripts/build_dashboard_assets.sh after changing the pin"
    assert "MIT" in (site.STATIC / "chart.js-LICENSE.md").read_text()


def test_every_asset_the_pages_name_is_shipped_and_none_is_remote():
    for name in site.ASSETS:
        assert (site.STATIC / name).is_file(), name
    for name in pages.PAGES:
        html = pages.page(name, "results.sqlite")
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"[a-z]+:", src), f"{name} loads {src} from the network"
            if src.startswith("assets/"):
                assert src.removeprefix("assets/") in site.ASSETS
    script = (site.STATIC / "dashboard.js").read_text()
    assert "fetch(" not in script and "http://" not in script and "https://" not in script
