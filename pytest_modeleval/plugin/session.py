"""The eval session: the run record, outcome classification and recording.

Registered in pytest_configure only when a model is named, so a session without evals
has none of these per-test hooks. Under pytest-xdist every process classifies its own
reports; only the controller (or a plain single process) writes the database, from the
outcome payload each report carries across; a DB that stops taking writes stops the
recording, not the run (results/recorder.py), and the run then exits 3. The models it runs
are in the pool (runtime/pool.py), the plan in the planner (runtime/planner.py), what it shows
in the terminal plugin (terminal.py). The features that add to a run (runtime/features.py: the
package's own and a third party's, from the `pytest_modeleval_features` hook) are a list it loops
over; it names none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..config import Settings
from ..dburl import redact_text
from ..engines.factory import engine_name, vllm_version
from ..items import Item
from ..results.summary import SuiteTally
from ..runtime.handle import CallLog
from ..stash import AGGREGATIONS_KEY, LOG_KEY, METRICS_KEY, P_CORRECT_KEY, SCORE_KEY, Outcome, OutcomePayload
from ..suite import MARK

if TYPE_CHECKING:
    from ..results.recorder import Recorder
    from ..results.store import Store
    from ..runtime.planner import Planner

NOT_RECORDED = pytest.ExitCode.INTERNAL_ERROR
"""The exit status of a run whose results DB could not be written (3, as when the gates cannot be computed):
the verdicts were shown but not kept, so CI must not take the run for a finished one."""


def _payload_of(report) -> OutcomePayload | None:
    return getattr(report, "modeleval", None)


class EvalSession:
    def __init__(self, config: pytest.Config, settings: Settings, pool, suite_meta: dict[str, dict],
                 feature_classes=(), audit=None, project=None, started: float | None = None):
        from ..config import Project
        from ..runtime.features import RunContext, session_features, unique

        self.config = config
        self.settings = settings
        self.pool = pool  # runtime/pool.py: the engines and predictors of the model, the judge, the reference
        self.resolved = pool.resolved
        self.suite_meta = suite_meta  # filled by the collector
        self.is_worker = hasattr(config, "workerinput")
        self.tallies: dict[str, SuiteTally] = {}
        self.store: Store | None = None
        self.recorder: Recorder | None = None  # results/recorder.py: the store's writes, stopped at the first that fails
        self.run_id: int | None = None
        self._recorded_suites: set[str] = set()
        self._engine_recorded = False
        self._planner: Planner | None = None
        project = project if project is not None else Project.read(config.rootpath / "pyproject.toml")
        self.price = _price(project, self.resolved)
        # the judge, the red team, contamination, the sandbox, a plugin's: filled in the controller
        self.feature_classes = unique(feature_classes)
        self.features = session_features(self.feature_classes, RunContext(settings, config.rootpath, audit, pool))
        self.gate_rules = None  # gates.rules.GateConfig when the gates are on (set by the plugin)
        # When the run started: xdist workers get the controller's (pytest_configure_node), so each counts
        # what a peer computed in this run as computed, not as a cache hit.
        self.started = started if started is not None else time.time()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """pytest-xdist controller: pass the run's start time to each worker."""
        node.workerinput["modeleval_started"] = self.started

    @property
    def planner(self):
        """The plan of every declared request, built on first need with what the features provide to planning."""
        if self._planner is None:
            from ..runtime.features import planning_values
            from ..runtime.planner import Planner

            self._planner = Planner(self.pool.predictor, self.pool.render, self.settings.seed,
                                    **planning_values(self.features, self.gate_rules))
        return self._planner

    # --- the engine hook's built-in implementation ------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_modeleval_make_engine(self, resolved, settings):
        from ..engines.factory import load_engine

        return load_engine(resolved, settings)

    # --- the run record ---------------------------------------------------------------------------
    def pytest_sessionstart(self, session):
        if self.config.option.collectonly:
            return
        from ..runtime.pool import CacheUnavailable

        try:  # opens the prediction cache now: a bad --eval-cache-db is a usage error, not N test errors
            self.pool.predictor()
        except CacheUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
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
        from ..registry.fields import registry_fields

        env = runinfo.environment(self.config.rootpath, list(self.config.invocation_params.args))
        r = self.resolved
        engine = engine_name(r.kind, self.settings.engine)
        if self.store is None:
            raise RuntimeError("the run is started before the results DB is open")
        self.run_id = self.store.start_run({
            **env,
            "model_ref": r.ref, "model_hash": r.sha256, "model_kind": r.kind, "hash_basis": r.hash_basis,
            **(registry_fields(r.registry) if r.registry is not None else {}),
            "engine": engine,
            "engine_version": {"hf": env["transformers"], "vllm": vllm_version()}.get(engine),
            "seed": self.settings.seed, "eval_limit": self.settings.limit,
            "shard": "{}/{}".format(*self.settings.shard) if self.settings.shard else None,
            "run_group": self.settings.run_group if self.settings.shard else None,
            "cache_mode": self.settings.cache,
            **{k: v for feature in self.features for k, v in feature.run_fields().items()},
            "settings": {k: redact_text(str(v)) if isinstance(v, (Path, str)) else v
                         for k, v in vars(self.settings).items() if k != "sources"},
        })

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        from ..runtime.features import records_of

        for feature in self.features:
            feature.models_closing()
        self.pool.close()
        if self.recorder is not None and self.store is not None and self.run_id is not None:
            from ..gates import GATES_FAILED

            # session.exitstatus, not the hook argument: the gates (tryfirst) may have set it to 10
            finished = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, GATES_FAILED)
            completed = session.exitstatus in finished
            record = self.recorder.write  # after a failed write: skipped, and named under the summary
            for feature in self.features:
                record(records_of(feature), feature.record, self.store, self.run_id, completed)
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
        payload: OutcomePayload = {
            "suite": marker.args[0].name, "item_id": suite_item.id, "variant": suite_item.variant,
            "variant_id": suite_item.library_id,
            "test_id": report.nodeid, "outcome": outcome, "score": score, "p_correct": p_correct, "message": message,
            "metrics": metrics, "metric_aggregations": item.stash.get(AGGREGATIONS_KEY, None),
            "duration": report.duration, **(log.as_record() if log else CallLog().as_record()),
            "suite_meta": self.suite_meta.get(marker.args[0].name),
            "engine": _engine_fields(self.pool.loaded),
        }
        for feature in self.features:  # a judgment, a refusal, the sandbox used, ...
            payload.update(feature.payload(item))  # type: ignore[typeddict-item]  # a third party's keys too
        report.modeleval = payload
        # On the item too: reports copy the item's list, and junitxml reads the teardown report's.
        properties = [("modeleval_outcome", outcome)] + ([("modeleval_score", score)] if score is not None else [])
        item.user_properties.extend(properties)
        report.user_properties.extend(properties)
        return report

    def pytest_runtest_logreport(self, report):
        from ..runtime.features import records_of

        payload = _payload_of(report)
        if payload is None or self.is_worker:
            return
        tally = self.tallies.setdefault(payload["suite"], SuiteTally())
        tally.add(payload["outcome"], payload["score"], payload["item_id"])
        tally.add_metrics(payload.get("metrics"), payload.get("metric_aggregations"))
        if payload.get("p_correct") is not None:  # shown with the named metrics; stored in its own column
            tally.add_metrics({"p_correct": payload["p_correct"]})
        tally.add_usage(payload)
        for feature in self.features:
            feature.collect(payload)
        if self.recorder is None or self.store is None or self.run_id is None:
            return
        record = self.recorder.write  # a DB that cannot be written stops recording, never the run
        meta = payload.get("suite_meta")
        if meta and payload["suite"] not in self._recorded_suites:
            record("the suites", self.store.add_suite, self.run_id, meta)
            self._recorded_suites.add(payload["suite"])
        if payload.get("engine") and not self._engine_recorded:
            record("the engine", self.store.update_run, self.run_id, payload["engine"])
            self._engine_recorded = True
        self.recorder.add_outcome(self.run_id, payload)
        for feature in self.features:
            record(records_of(feature), feature.record_outcome, self.store, self.run_id, payload)

    # --- totals ----------------------------------------------------------------------------------
    def usage_totals(self) -> dict:
        """Run totals for the summary and the runs table."""
        from ..cost import estimate
        from ..stash import USAGE_FIELDS

        totals = {name: sum(t.usage[name] for t in self.tallies.values()) for name in USAGE_FIELDS}
        totals["estimated_cost_usd"] = estimate(self.price, totals["new_prompt_tokens"],
                                                totals["new_completion_tokens"])
        return totals


def _classify(report, call) -> Outcome | None:
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


def _price(project, resolved) -> tuple[float, float] | None:
    """The model's price from [tool.modeleval.prices]; a malformed entry is a usage error."""
    from ..cost import PriceError, price_for

    try:
        return price_for(project.prices, resolved.ref, resolved.sha256)
    except PriceError as exc:
        raise pytest.UsageError(str(exc)) from None
