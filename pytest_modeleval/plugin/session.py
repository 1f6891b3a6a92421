"""The eval session: engine, run record, outcome classification, recording and summary.

Registered in pytest_configure only when a model is named, so a session without evals
has none of these per-test hooks. Under pytest-xdist every process classifies its own
reports; only the controller (or a plain single process) writes the database and prints
the summary, from the outcome payload each report carries across; a DB that stops taking writes stops
the recording, not the run (results/recorder.py), and the run then exits 3. The features that add to a
run (the judge, the red team, contamination: runtime/features.py) are a list it loops over.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ..config import Settings
from ..dburl import is_url, redact, redact_text
from ..engines.factory import engine_name
from ..engines.factory import header as engine_header
from ..engines.factory import vllm_version
from ..items import Item
from ..results.summary import SuiteTally, format_metrics, format_table
from ..runtime.handle import CallLog
from ..stash import AGGREGATIONS_KEY, LOG_KEY, METRICS_KEY, P_CORRECT_KEY, SANDBOX_KEY, SCORE_KEY
from ..suite import MARK

NOT_RECORDED = pytest.ExitCode.INTERNAL_ERROR
"""The exit status of a run whose results DB could not be written (3, as when the gates cannot be computed):
the verdicts were shown but not kept, so CI must not take the run for a finished one."""


def _payload_of(report) -> dict | None:
    return getattr(report, "modeleval", None)


class EvalSession:
    def __init__(self, config: pytest.Config, settings: Settings, resolved, suite_meta: dict[str, dict],
                 judge=None, audit=None, project=None):
        from ..config import Project
        from ..runtime.features import RunContext, session_features
        from ..runtime.roles import Roles

        self.config = config
        self.settings = settings
        self.resolved = resolved
        self.suite_meta = suite_meta  # filled by the collector
        self.is_worker = hasattr(config, "workerinput")
        self.tallies: dict[str, SuiteTally] = {}
        self.store = None
        self.recorder = None  # results/recorder.py: the store's writes, stopped at the first that fails
        self.run_id: int | None = None
        self._engine = None
        self._engine_error: Exception | None = None
        self._engine_lock = threading.Lock()
        self._recorded_suites: set[str] = set()
        self._engine_recorded = False
        self._sandbox_recorded = False
        self._predictor = None
        self._planner = None
        self._last_progress = -10.0
        project = project if project is not None else Project.read(config.rootpath / "pyproject.toml")
        self.price = _price(project, resolved)
        self.roles = Roles(self, judge)  # the judge and the production checkpoint, loaded on first need
        judge_self = judge is not None and judge.sha256 == resolved.sha256
        # the judge, the red team, contamination (and the audit): filled in the controller
        self.features = session_features(RunContext(settings, config.rootpath, audit, judge_self))
        self.gate_rules = None  # gates.rules.GateConfig when the gates are on (set by the plugin)
        # When the run started: xdist workers get the controller's (pytest_configure_node), so each counts
        # what a peer computed in this run as computed, not as a cache hit.
        self.started = getattr(config, "workerinput", {}).get("modeleval_started", time.time())

    # --- predictions -------------------------------------------------------------------------------
    @property
    def predictor(self):
        """Cache + engine, shared by the planner and imperative calls; under xdist workers share the cache."""
        if self._predictor is None:
            from ..dburl import redact
            from ..runtime.cache.store import PredictionCache
            from ..runtime.predictor import Predictor

            try:
                cache = PredictionCache(self.settings.cache_db, self.settings.cache, self.settings.cache_lease)
            except Exception as exc:  # noqa: BLE001
                raise pytest.UsageError(f"--eval-cache-db {redact(self.settings.cache_db)}: cannot open the "
                                        f"prediction cache: {exc}") from None
            # xdist workers share the cache file; on a shared server every process may have peers
            self._predictor = Predictor(self.engine, cache, self.resolved.sha256, self.settings.batch_size,
                                        shared=self.is_worker or cache.shared, progress=self._progress,
                                        run_started=self.started if self.is_worker else None)
        return self._predictor

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """pytest-xdist controller: pass the run's start time to each worker."""
        node.workerinput["modeleval_started"] = self.started

    @property
    def planner(self):
        if self._planner is None:
            from ..judge.rejudge import BaselineAnswers
            from ..runtime.planner import Planner

            self._planner = Planner(self.predictor_for, self.render_for, self.settings.seed,
                                    self.roles.production_answer,
                                    judge_hash=self.roles.judge.sha256 if self.roles.judge else "",
                                    baseline_judgment=BaselineAnswers(self.settings.db, self.settings.baseline,
                                                                      self.gate_rules))
        return self._planner

    def call_log(self, node) -> CallLog:
        """The test's log of prompts, answers and usage that becomes its outcome row."""
        log = node.stash.get(LOG_KEY, None)
        if log is None:
            log = node.stash[LOG_KEY] = CallLog()
        return log

    def planned_value(self, request, wanted: type, fixture: str):
        """This test's declared result, running the whole plan (every collected item) on first use."""
        marker = request.node.get_closest_marker(MARK)
        declared = marker.args[0].request if marker else None
        if not isinstance(declared, wanted):
            names = " or ".join(f"modeleval.{w.__name__}(...)" for w in (wanted if isinstance(wanted, tuple) else (wanted,)))
            raise pytest.UsageError(f"{request.node.nodeid}: the `{fixture}` fixture needs a suite declared with "
                                    f"request={names}")
        planned = self.planner.result(request.node, request.session.items)
        value = planned.value  # raises the planning or engine error, which makes this test an error
        log = self.call_log(request.node)
        for prompt, prediction in zip(planned.prompts, planned.predictions):
            log.add(prompt, prediction)
        return value

    def predictor_for(self, role: str):
        """The predictor of the model in a role: "model" (under evaluation), "judge" or "reference"."""
        return self.predictor if role == "model" else self.roles.predictor(role)

    def render_for(self, prompt, chat: bool, role: str = "model") -> str:
        engine = self.engine() if role == "model" else self.roles.engine(role)
        return engine.render(prompt, chat)

    def _progress(self, kind: str, done: int, total: int, elapsed: float) -> None:
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
        self._say(f"modeleval: {kind} {done}/{total} requests computed, {rate:.1f}/s, {state}")

    def _say(self, line: str) -> None:
        """A line on the terminal, also from inside a test's setup (where the plan runs)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None or self.is_worker:
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)

    # --- engine --------------------------------------------------------------------------------
    def engine(self):
        """The session's engine, built on first use; a failed load is remembered, not retried per test."""
        with self._engine_lock:
            if self._engine is None and self._engine_error is None:
                try:
                    self._engine = self.config.hook.pytest_modeleval_make_engine(
                        resolved=self.resolved, settings=self.settings)
                    if self._engine is None:
                        from ..engines.base import EngineError
                        raise EngineError(f"no engine can run model {self.resolved.ref!r} "
                                          f"(kind {self.resolved.kind})")
                    if hasattr(self._engine, "describe"):  # where the Ray engine's replicas run, once ready
                        self._say(f"modeleval: {self._engine.describe()}")
                except Exception as exc:  # noqa: BLE001 - reported to every test that needs the model
                    self._engine_error = exc
            if self._engine_error is not None:
                raise self._engine_error
            return self._engine

    @pytest.hookimpl(trylast=True)
    def pytest_modeleval_make_engine(self, resolved, settings):
        from ..engines.factory import load_engine

        return load_engine(resolved, settings)

    # --- header and run record -----------------------------------------------------------------
    def pytest_report_header(self, config):
        s = self.settings
        limit = f", limit {s.limit}" if s.limit else ""
        return [f"modeleval: model {self.resolved.describe()}",
                f"modeleval: sha256:{self.resolved.sha256}",
                f"modeleval: {engine_header(self.resolved.kind, s)}",
                f"modeleval: db {_show(s.db, config.rootpath)}, seed {s.seed}{limit}"] + _ray_header(s) + \
            _sandbox_header(s)

    def pytest_sessionstart(self, session):
        if self.config.option.collectonly:
            return
        self.predictor  # opens the prediction cache now: a bad --eval-cache-db is a usage error, not N test errors
        if self.is_worker:
            return
        from ..results.recorder import Recorder
        from ..results.store import Store
        from .gatekeeper import cannot_open

        try:
            self.store = Store(self.settings.db)
            self._start_run()
        except Exception as exc:  # noqa: BLE001 - not a database, unreachable, refused, disk full
            raise cannot_open(self.settings.db, exc) from None
        self.recorder = Recorder(self.store)

    def _start_run(self) -> None:
        from .. import runinfo

        env = runinfo.environment(self.config.rootpath, list(self.config.invocation_params.args))
        r = self.resolved
        engine = engine_name(r.kind, self.settings.engine)
        self.run_id = self.store.start_run({
            **env,
            "model_ref": r.ref, "model_hash": r.sha256, "model_kind": r.kind, "hash_basis": r.hash_basis,
            "engine": engine,
            "engine_version": {"hf": env["transformers"], "vllm": vllm_version()}.get(engine),
            "seed": self.settings.seed, "eval_limit": self.settings.limit,
            "shard": "{}/{}".format(*self.settings.shard) if self.settings.shard else None,
            "run_group": self.settings.run_group if self.settings.shard else None,
            "cache_mode": self.settings.cache,
            **self._judge_fields(),
            **{k: v for feature in self.features for k, v in feature.run_fields().items()},
            "settings": {k: redact_text(str(v)) if isinstance(v, (Path, str)) else v
                         for k, v in vars(self.settings).items() if k != "sources"},
        })

    def _judge_fields(self) -> dict:
        judge = self.roles.judge
        if judge is None:
            return {}
        return {"judge_ref": judge.ref, "judge_hash": judge.sha256,
                "judge_self": int(judge.sha256 == self.resolved.sha256)}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self._predictor is not None:
            self._predictor.cache.close()
        _close_ray(self._engine)
        if self.recorder is not None and self.run_id is not None:
            from ..gates import GATES_FAILED

            # session.exitstatus, not the hook argument: the gates (tryfirst) may have set it to 10
            finished = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, GATES_FAILED)
            completed = session.exitstatus in finished
            record = self.recorder.write  # after a failed write: skipped, and named under the summary
            for feature in self.features:
                record(_records_of(feature), feature.record, self.store, self.run_id, completed)
            record("the run's end", self.store.update_run, self.run_id, self.usage_totals())
            record("the run's end", self.store.finish_run, self.run_id, int(session.exitstatus))
            self.recorder.close()  # in-process sessions (pytester, notebooks) would otherwise leak it
            if self.recorder.failed and session.exitstatus in finished:
                session.exitstatus = NOT_RECORDED

    # --- outcomes ------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        marker = item.get_closest_marker(MARK)
        suite_item = getattr(getattr(item, "callspec", None), "params", {}).get("item")
        if marker is None or not isinstance(suite_item, Item):
            return report
        outcome = _classify(report, call)
        if outcome is None:
            return report
        message = None
        if outcome == "wrong":
            message = _short(call.excinfo.exconly())
            report.outcome = "passed"  # a wrong answer is an eval outcome, not a failed test
            report.longrepr = None
        elif outcome == "error" and call.excinfo is not None:
            message = _short(call.excinfo.exconly())
        score, metrics, p_correct = None, None, None  # errors and skips carry no score, even if recorded first
        if outcome in ("correct", "wrong"):
            score = item.stash.get(SCORE_KEY, 1.0 if outcome == "correct" else 0.0)
            metrics = item.stash.get(METRICS_KEY, None)
            p_correct = item.stash.get(P_CORRECT_KEY, None)
        log = item.stash.get(LOG_KEY, None)
        report.modeleval = {
            "suite": marker.args[0].name, "item_id": suite_item.id, "variant": suite_item.variant,
            "variant_id": suite_item.library_id,
            "test_id": report.nodeid, "outcome": outcome, "score": score, "p_correct": p_correct, "message": message,
            "metrics": metrics, "metric_aggregations": item.stash.get(AGGREGATIONS_KEY, None),
            "duration": report.duration, **(log.as_record() if log else CallLog().as_record()),
            "suite_meta": self.suite_meta.get(marker.args[0].name),
            "engine": _engine_fields(self._engine), "sandbox": item.stash.get(SANDBOX_KEY, None),
        }
        for feature in self.features:  # a judgment, a refusal, ...
            report.modeleval.update(feature.payload(item))
        # On the item too: reports copy the item's list, and junitxml reads the teardown report's.
        properties = [("modeleval_outcome", outcome)] + ([("modeleval_score", score)] if score is not None else [])
        item.user_properties.extend(properties)
        report.user_properties.extend(properties)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        payload = _payload_of(report)
        if payload is None:
            return None
        if payload["outcome"] == "wrong":
            return "wrong", "W", ("WRONG", {"yellow": True})
        if payload["outcome"] == "error" and report.when == "call":
            return "error", "E", ("ERROR", {"red": True})
        return None

    def pytest_runtest_logreport(self, report):
        payload = _payload_of(report)
        if payload is None or self.is_worker:
            return
        tally = self.tallies.setdefault(payload["suite"], SuiteTally())
        tally.add(payload["outcome"], payload["score"])
        tally.add_metrics(payload.get("metrics"), payload.get("metric_aggregations"))
        if payload.get("p_correct") is not None:  # shown with the named metrics; stored in its own column
            tally.add_metrics({"p_correct": payload["p_correct"]})
        tally.add_usage(payload)
        for feature in self.features:
            feature.collect(payload)
        if self.recorder is None:
            return
        record = self.recorder.write  # a DB that cannot be written stops recording, never the run
        meta = payload.get("suite_meta")
        if meta and payload["suite"] not in self._recorded_suites:
            record("the suites", self.store.add_suite, self.run_id, meta)
            self._recorded_suites.add(payload["suite"])
        if payload.get("engine") and not self._engine_recorded:
            record("the engine", self.store.update_run, self.run_id, payload["engine"])
            self._engine_recorded = True
        if payload.get("sandbox") and not self._sandbox_recorded:
            record("the sandbox", self.store.update_run, self.run_id, {"sandbox": payload["sandbox"]})
            self._sandbox_recorded = True
        self.recorder.add_outcome(self.run_id, payload)
        for feature in self.features:
            record(_records_of(feature), feature.record_outcome, self.store, self.run_id, payload)

    # --- summary -------------------------------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter):
        if not self.tallies:
            return
        tr = terminalreporter
        tr.write_sep("=", "modeleval summary")
        where = f" -> run {self.run_id} in {_show(self.settings.db, self.config.rootpath)}" if self.run_id else ""
        tr.write_line(f"model {self.resolved.ref} sha256:{self.resolved.short}{where}")
        for line in format_table(self.tallies):
            tr.write_line(line)
        for line in format_metrics(self.tallies):
            tr.write_line(line)
        for feature in self.features:
            for line in feature.summary_lines():
                text, markup = (line, {}) if isinstance(line, str) else line
                tr.write_line(text, **markup)
        totals = self.usage_totals()
        hit_rate = totals["cache_hits"] / totals["requests"] if totals["requests"] else 0.0
        cost = "" if totals["estimated_cost_usd"] is None else f"; estimated cost ${totals['estimated_cost_usd']:.4f}"
        tr.write_line(f"{totals['requests']} requests, {100 * hit_rate:.1f}% from cache; tokens computed "
                      f"{totals['new_prompt_tokens']} in / {totals['new_completion_tokens']} out{cost}")

    @pytest.hookimpl(specname="pytest_terminal_summary", wrapper=True, tryfirst=True)
    def pytest_terminal_summary_not_recorded(self, terminalreporter):  # pytest reads only pytest_* names
        """The last word, after the gates: what the results DB lacks when a write failed, and the exit status."""
        try:
            return (yield)
        finally:
            if self.recorder is not None and self.recorder.failed:
                terminalreporter.write_line(f"modeleval: {self.recorder.describe()}; this run cannot be promoted "
                                            f"(exit status {int(NOT_RECORDED)})", red=True, bold=True)

    def usage_totals(self) -> dict:
        """Run totals for the summary and the runs table."""
        from ..cost import estimate
        from ..stash import USAGE_FIELDS

        totals = {name: sum(t.usage[name] for t in self.tallies.values()) for name in USAGE_FIELDS}
        totals["estimated_cost_usd"] = estimate(self.price, totals["new_prompt_tokens"],
                                                totals["new_completion_tokens"])
        return totals


def _classify(report, call) -> str | None:
    """The eval outcome a report stands for, or None when a later phase decides it."""
    if report.when == "setup":
        if report.failed:
            return "error"
        return "skipped" if report.skipped else None
    if report.when != "call":
        return None
    if report.passed:
        return "correct"
    if report.skipped:
        return "skipped"
    if call.excinfo is not None and call.excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return "wrong"
    return "error"


def _records_of(feature) -> str | None:
    """How a feature's rows are named when they were not written ("judgments" for RunJudgments); None when
    it has nothing to record."""
    return type(feature).__name__.removeprefix("Run").lower() if feature else None


def _sandbox_header(settings: Settings) -> list[str]:
    if settings.sandbox != "UNSAFE-no-isolation":
        return []
    from ..sandbox.fixture import UNSAFE_WARNING

    return [UNSAFE_WARNING]


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


def _close_ray(engine) -> None:
    """The Ray engine's replicas, then the Ray this session started (imported only if it was used)."""
    import sys

    close = getattr(engine, "close", None)
    if close is not None:
        close()
    cluster = sys.modules.get("pytest_modeleval.engines.ray_cluster")
    if cluster is not None:
        cluster.disconnect()


def _engine_fields(engine) -> dict | None:
    info = getattr(engine, "info", None)
    if info is None:
        return None
    device = info.device
    if info.extra.get("replicas"):  # the Ray engine: its replicas' engine, and where they ran
        device = f"{device} x {info.extra['replicas']} replicas on {info.extra['cluster']}"
    return {"engine": info.kind, "engine_version": info.version, "engine_device": device,
            "engine_dtype": info.dtype, "engine_setup": info.extra.get("setup"),
            "chat_template_sha256": info.extra.get("chat_template_sha256")}


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def _show(path: Path, root: Path) -> str:
    if is_url(str(path)):
        return redact(str(path))
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _price(project, resolved) -> tuple[float, float] | None:
    """The model's price from [tool.modeleval.prices]; a malformed entry is a usage error."""
    from ..cost import PriceError, price_for

    try:
        return price_for(project.prices, resolved.ref, resolved.sha256)
    except PriceError as exc:
        raise pytest.UsageError(str(exc)) from None
