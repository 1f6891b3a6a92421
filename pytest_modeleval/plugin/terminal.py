"""What a model run shows on the terminal: the header, progress while it computes, the outcome letters, the
summary and, when the results DB could not be written, the last word.

Kept apart from the session (session.py), which computes and records, as pytest-xdist keeps its
terminal reporter apart from its scheduling: the session holds the figures, this module only
shows them. Registered next to the session, as "modeleval-terminal". Under pytest-xdist only the
controller writes (a worker's lines would be lost in its captured output).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..config import Settings
from ..dburl import is_url, redact

if TYPE_CHECKING:
    from .session import EvalSession


class EvalTerminal:
    def __init__(self, config: pytest.Config, settings: Settings, resolved):
        self.config = config
        self.settings = settings
        self.resolved = resolved
        self.is_worker = hasattr(config, "workerinput")
        self.session: EvalSession | None = None  # set by the plugin once it is built
        self._last_progress = -10.0

    # --- while the run computes (the pool's say and progress) -----------------------------------
    def say(self, line: str) -> None:
        """A line on the terminal, also from inside a test's setup (where the plan runs)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None or self.is_worker:
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)

    def progress(self, kind: str, done: int, total: int, elapsed: float) -> None:
        """One line per batch at most every 5 s (and at the end): requests/s and ETA."""
        if total <= self.settings.batch_size:  # one batch: nothing to wait for, nothing to report
            return
        now = time.monotonic()
        if done < total and now - self._last_progress < 5.0:
            return
        self._last_progress = now
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        state = f"ETA {eta:.0f} s" if done < total else f"done in {elapsed:.1f} s"
        self.say(f"modeleval: {kind} {done}/{total} requests computed, {rate:.1f}/s, {state}")

    # --- the header -----------------------------------------------------------------------------
    def pytest_report_header(self, config):
        from ..engines.factory import header as engine_header

        s = self.settings
        limit = f", limit {s.limit}" if s.limit else ""
        features: list = self.session.features if self.session is not None else []
        return [f"modeleval: model {self.resolved.describe()}",
                f"modeleval: sha256:{self.resolved.sha256}",
                f"modeleval: {engine_header(self.resolved.kind, s)}",
                f"modeleval: db {show(s.db, config.rootpath)}, seed {s.seed}{limit}"] + _ray_header(s) + \
            [line for feature in features for line in feature.header_lines()]

    # --- the outcome letters --------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        payload = getattr(report, "modeleval", None)
        if payload is None:
            return None
        if payload["outcome"] == "wrong":
            return "wrong", "W", ("WRONG", {"yellow": True})
        if payload["outcome"] == "error" and report.when == "call":
            return "error", "E", ("ERROR", {"red": True})
        return None

    # --- the summary ----------------------------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter):
        from ..results.summary import format_metrics, format_samples, format_table

        session = self.session
        if session is None or not session.tallies:
            return
        tr = terminalreporter
        tr.write_sep("=", "modeleval summary")
        where = f" -> run {session.run_id} in {show(self.settings.db, self.config.rootpath)}" if session.run_id else ""
        tr.write_line(f"model {self.resolved.ref} sha256:{self.resolved.short}{where}")
        for line in format_table(session.tallies):
            tr.write_line(line)
        for line in format_metrics(session.tallies) + format_samples(session.tallies):
            tr.write_line(line)
        for feature in session.features:
            for shown in feature.summary_lines():
                text, markup = (shown, {}) if isinstance(shown, str) else shown
                tr.write_line(text, **markup)
        totals = session.usage_totals()
        hit_rate = totals["cache_hits"] / totals["requests"] if totals["requests"] else 0.0
        cost = "" if totals["estimated_cost_usd"] is None else f"; estimated cost ${totals['estimated_cost_usd']:.4f}"
        tr.write_line(f"{totals['requests']} requests, {100 * hit_rate:.1f}% from cache; tokens computed "
                      f"{totals['new_prompt_tokens']} in / {totals['new_completion_tokens']} out{cost}")

    @pytest.hookimpl(specname="pytest_terminal_summary", wrapper=True, tryfirst=True)
    def pytest_terminal_summary_not_recorded(self, terminalreporter):  # pytest reads only pytest_* names
        """The last word, after the gates: what the results DB lacks when a write failed, and the exit status."""
        from .session import NOT_RECORDED

        try:
            return (yield)
        finally:
            recorder = self.session.recorder if self.session is not None else None
            if recorder is not None and recorder.failed:
                terminalreporter.write_line(f"modeleval: {recorder.describe()}; this run cannot be promoted "
                                            f"(exit status {int(NOT_RECORDED)})", red=True, bold=True)


def _ray_header(settings: Settings) -> list[str]:
    """Where a Ray run's replicas and sandbox tasks will run (the engine says more once they are ready)."""
    if settings.engine != "ray" and not settings.sandbox_workers:
        return []
    import os

    where = f"Ray at {settings.ray_address}" if settings.ray_address else \
        f"local Ray, {len(os.sched_getaffinity(0))} CPUs (started for this session)"
    lines = []
    if settings.engine == "ray":
        lines.append(f"modeleval: engine ray: {settings.replicas} replicas ({settings.replica_engine}) on {where}")
    if settings.sandbox_workers:
        lines.append(f"modeleval: sandbox: up to {settings.sandbox_workers} Ray tasks on {where}")
    return lines


def show(path: Path | str, root: Path) -> str:
    """A results DB as the terminal names it: relative to the rootdir, or a URL without its password."""
    if is_url(str(path)):
        return redact(str(path))
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
