"""Helpers of the dashboard tests: Debian's chromium driven by playwright, the synthetic many-run DB, the report.

The browser is the system's chromium (scripts/install.sh installs it); playwright only drives it
and downloads nothing. Without them the tests skip with the reason, except under scripts/test.sh
(the CI command, which sets MODELEVAL_REQUIRE_BROWSER) or CI: the install step installs it, so a
skip there would hide a broken install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from pytest_modeleval.cli import main as modeleval
from testpaths import REPO

ROOT = REPO
BENCHMARK = ROOT / "benchmarks" / "report_100_runs.py"


def _missing(what: str):
    message = f"{what} (scripts/install.sh installs it)"
    if os.environ.get("MODELEVAL_REQUIRE_BROWSER") or os.environ.get("CI"):
        pytest.fail(f"the dashboard tests need {message}", pytrace=False)
    pytest.skip(f"needs {message}")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _missing("Debian's chromium")
    return path


def launch_browser():
    """(playwright, browser): the system chromium, headless; stop both with close_browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package (the dev extra)")
    executable = chromium_path()
    manager = sync_playwright()
    playwright = manager.start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    except Exception:
        manager.__exit__(None, None, None)
        raise
    return manager, browser


def close_browser(manager, browser) -> None:
    browser.close()
    manager.__exit__(None, None, None)


class Pages:
    """Opens dashboard pages in one browser context, waits until they are drawn, and screenshots them."""

    def __init__(self, browser, out: Path, shots: Path):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(5_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.out, self.shots = out, shots
        shots.mkdir(parents=True, exist_ok=True)

    def url(self, name: str) -> str:
        base, _, fragment = name.partition("#")
        return (self.out / base).as_uri() + (f"#{fragment}" if fragment else "")

    def open(self, name: str, *, base_url: str | None = None, expect: str = "1"):
        """Load a page (from file://, or from base_url when served), wait for its ready mark, screenshot it."""
        page = self.page
        page.goto(base_url + name if base_url else self.url(name))
        page.wait_for_function("document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'",
                               timeout=20_000)
        state = page.evaluate("document.body.dataset.ready")
        assert state == expect, f"{name}: ready={state}: {page.inner_text('main')[:500]}"
        assert not self.errors, f"{name}: script errors {self.errors}"
        slug = "".join(c if c.isalnum() else "_" for c in name)[:80]
        page.screenshot(path=str(self.shots / f"{slug}.png"), full_page=True)
        return page

    def cell(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text().strip()

    def value(self, selector: str) -> float:
        """The full-precision number a table cell carries in data-value (the text shows it rounded)."""
        return float(self.page.locator(selector).first.get_attribute("data-value"))

    def chart(self, canvas_id: str) -> list[dict]:
        """The Chart.js datasets drawn on a canvas: label and data."""
        return self.page.evaluate("""id => Chart.getChart(document.getElementById(id)).data.datasets
                                     .map(d => ({label: d.label, data: d.data}))""", canvas_id)

    def close(self) -> None:
        self.context.close()


def synthetic_db(path: Path, **kwargs) -> dict:
    """benchmarks/report_100_runs.py's generator (the benchmark and these tests share it)."""
    spec = importlib.util.spec_from_file_location("report_100_runs", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_db(path, **kwargs)


def build(db: Path, out: Path, *extra: str) -> Path:
    assert modeleval(["report", "--html", str(out), "--db", str(db), *extra]) == 0
    return out


def pct(value: float) -> str:
    """A proportion as the dashboard prints it (one decimal)."""
    return f"{100 * value:.1f}%"
