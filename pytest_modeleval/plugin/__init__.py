"""pytest entry point (the `pytest11` plugin): options, configuration, and the plugins it registers.

The composition root of a pytest run: when a model is named it builds the model pool (runtime/pool.py)
with the `pytest_modeleval_make_engine` hook as its engine factory, gathers the run features from the
`pytest_modeleval_features` hook, and registers the session (session.py), its terminal output
(terminal.py) and the gate keeper (gatekeeper.py). A project with the plugin installed pays for this
module only; models, torch and the database are touched when a run actually names a model.
"""

from __future__ import annotations

import pytest

from .. import config as cfg
from ..stash import COLLECTOR_KEY, GATES_KEY, SESSION_KEY
from ..suite import MARK
from .collect import SuiteCollector

# pytest finds the fixtures on the plugin module, so they are imported into it
from .fixtures import (  # noqa: F401
    choice,
    completion,
    judge,
    judgment,
    lm_eval_values,
    loglikelihoods,
    model,
    record_metric,
    record_score,
    refusal,
    sandbox,
)


def pytest_addhooks(pluginmanager):
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    cfg.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_modeleval_features(config):
    """The package's own run features, first (builtin_features.py); a plugin's or conftest's come after."""
    from ..builtin_features import builtin_features

    return list(builtin_features())


def pytest_configure(config):
    global _open_configs, _engines_before
    if _open_configs == 0:
        _engines_before = _loaded_engines()
    _open_configs += 1
    config.addinivalue_line("markers", f"{MARK}(spec): an eval suite declared with pytest_modeleval.suite()")
    cli = {option.name: config.getoption(f"modeleval_{option.name}") for option in cfg.OPTIONS}
    try:  # the project's pyproject.toml, read once: the settings, the gates and the price come from it
        project = cfg.Project.read(config.rootpath / "pyproject.toml")
        settings = cfg.build_settings(cli, project, config.invocation_params.dir, config.rootpath)
    except cfg.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    audit = _load_audit(settings)
    if audit is not None and settings.model is None:  # the audit pins the checkpoint: it is the model
        import dataclasses

        settings = dataclasses.replace(settings, model=audit.model_version,
                                       sources={**settings.sources, "model": f"{audit.path} model_config.model_version"})
    resolved = None
    if settings.model is not None:
        from ..modelref import ModelRefError, resolve

        try:  # an xdist worker takes the version its controller resolved (an alias is resolved once per run)
            pin = getattr(config, "workerinput", {}).get("modeleval_model_pin")
            resolved = resolve(pin or settings.model, registry=settings.registry, base_dir=settings.model_base,
                               mlflow_uri=settings.mlflow)
            if pin:
                import dataclasses

                resolved = dataclasses.replace(resolved, ref=settings.model)
        except ModelRefError as exc:
            where = settings.sources.get("model", "--model")
            raise pytest.UsageError(f"{where}: {exc}") from None
    # a conftest or plugin that builds its own engine (pytest_modeleval_make_engine) decides what a model is
    probing = not config.option.collectonly and not config.hook.pytest_modeleval_make_engine.get_hookimpls()
    if resolved is not None and probing:
        _probe(resolved, settings.sources.get("model", "--model"))
    if audit is not None and resolved is not None and not audit.matches(resolved.sha256):
        raise pytest.UsageError(f"{audit.path}: model_config.model_version {audit.model_version} is not the model "
                                f"under evaluation, {settings.model} (sha256:{resolved.sha256}); the audit pins its "
                                "checkpoint by content hash")
    judge_model = _resolve_judge(settings, resolved, probing)
    from ..suites import sources

    sources.set_data_dir(settings.data_dir)
    collector = SuiteCollector(settings, has_model=resolved is not None, has_judge=judge_model is not None, audit=audit)
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "modeleval-collector")
    if resolved is not None:
        session = _register_session(config, settings, resolved, judge_model, collector, audit, project)
        if settings.gate_mode != "off":
            _register_gates(config, settings, session, project, audit)
        _register_ci_summary(config, settings, session)
        if resolved.registry is not None:  # verdicts written back to the MLflow registry (mlflow_registry.py)
            from .mlflow_registry import register

            register(config, settings, session)


def _register_session(config, settings, resolved, judge_model, collector, audit, project):
    """The model pool, the run features, the session and its terminal output, wired together."""
    import time

    from ..runtime.pool import ModelPool
    from .session import EvalSession
    from .terminal import EvalTerminal

    # xdist workers get the controller's start (pytest_configure_node), so each counts what a peer computed in
    # this run as computed, not as a cache hit
    worker = getattr(config, "workerinput", None)
    started = worker.get("modeleval_started", time.time()) if worker is not None else time.time()
    terminal = EvalTerminal(config, settings, resolved)

    def make_engine(model, model_settings):
        return config.hook.pytest_modeleval_make_engine(resolved=model, settings=model_settings)

    pool = ModelPool(resolved, settings, make_engine, judge=judge_model, shared=worker is not None,
                     run_started=started if worker is not None else None, progress=terminal.progress,
                     say=terminal.say)
    features = [cls for listed in config.hook.pytest_modeleval_features(config=config) for cls in listed]
    session = EvalSession(config, settings, pool, collector.suite_meta, feature_classes=features, audit=audit,
                          project=project, started=started)
    terminal.session = session
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "modeleval-session")
    config.pluginmanager.register(terminal, "modeleval-terminal")
    return session


def _load_audit(settings):
    """The --eval-audit configuration, checked now: a bad file is a usage error before anything runs."""
    if settings.audit is None:
        return None
    from ..perturb.audit_config import AuditConfigError, load

    try:
        return load(settings.audit)
    except AuditConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _probe(resolved, where: str) -> None:
    """The model checked once before collection (engines/probe.py): a truncated file, a directory without
    weights, a server that does not answer, an unknown lm-eval model is one usage error naming it."""
    from ..engines.base import EngineError
    from ..engines.probe import probe

    try:
        probe(resolved)
    except EngineError as exc:
        raise pytest.UsageError(f"{where} {resolved.ref}: {exc}") from None


def _resolve_judge(settings, resolved, probing: bool = True):
    """The --judge model, refused when it is the model under evaluation unless --judge-allow-self."""
    if settings.judge is None or resolved is None:
        return None
    from ..modelref import ModelRefError, resolve

    where = settings.sources.get("judge", "--judge")
    try:
        judge = resolve(settings.judge, registry=settings.registry, base_dir=settings.model_base,
                        mlflow_uri=settings.mlflow)
    except ModelRefError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    if probing and judge.sha256 != resolved.sha256:
        _probe(judge, where)
    if judge.sha256 == resolved.sha256 and not settings.judge_allow_self:
        raise pytest.UsageError(
            f"{where} {settings.judge}: the judge is the model under evaluation (sha256:{judge.short}); a model "
            "judging its own answers favours them (self-preference). Use a different judge, or pass "
            "--judge-allow-self to do it anyway (the run records it).")
    return judge


def _register_gates(config, settings, session, project, audit=None) -> None:
    """The promotion gates (pytest_modeleval.gates), configured from [tool.modeleval.gates]."""
    from ..gates import rules
    from .gatekeeper import GateKeeper

    try:
        gate_rules = rules.from_project(project)
    except cfg.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if audit is not None:  # the audit's deployment gate, for its suite
        gate_rules = rules.with_suite_rule(gate_rules, audit.suite, "contamination", max=audit.max_flagged)
    session.gate_rules = gate_rules  # the planner re-judges a baseline only for a gate that compares it
    keeper = GateKeeper(config, settings, session, gate_rules)
    config.stash[GATES_KEY] = keeper
    config.pluginmanager.register(keeper, "modeleval-gates")
    if gate_rules.sequential or any(gate_rules.sequential_suites.values()):
        from .sequential import SequentialSuites

        config.pluginmanager.register(SequentialSuites(config, settings, gate_rules, keeper, session),
                                      "modeleval-sequential")


def _register_ci_summary(config, settings, session) -> None:
    """The markdown summary and GitHub's annotations (ci_summary.py), in the controller and only when the run asks
    for them (--eval-summary-md or GITHUB_STEP_SUMMARY; GITHUB_ACTIONS=true): otherwise nothing is imported."""
    import os

    annotate = os.environ.get("GITHUB_ACTIONS") == "true"
    if (settings.summary_md is None and not annotate) or hasattr(config, "workerinput"):
        return
    where = settings.sources.get("summary_md")
    if settings.summary_md is not None and where != "GITHUB_STEP_SUMMARY":  # the user's file: checked before any test
        path = settings.summary_md
        if path.is_dir() or not path.parent.is_dir():
            why = "is a directory" if path.is_dir() else f"its directory {path.parent} does not exist"
            raise pytest.UsageError(f"invalid value for {where}: {str(path)!r} ({why})")
    from .ci_summary import CISummary

    config.pluginmanager.register(CISummary(config, settings, session, annotate=annotate), "modeleval-ci-summary")


def pytest_unconfigure(config):
    global _open_configs
    for key in (GATES_KEY, SESSION_KEY, COLLECTOR_KEY):
        plugin = config.stash.get(key, None)
        if plugin is not None:
            del config.stash[key]
            config.pluginmanager.unregister(plugin)
    for name in ("modeleval-terminal", "modeleval-ci-summary", "modeleval-mlflow"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
    _open_configs -= 1
    if _open_configs == 0:
        _shut_engines_down()


# pytest sessions open in this process: in-process runs (pytester) nest inside an outer one. Engines that run a
# process of their own (vLLM) outlive the inner runs, so a process loads them once, and the ones loaded while
# the outermost session ran are shut down when it ends: the process then exits with its status, leaving nothing
# behind (pytest calls unconfigure after a failed collection, -x and Ctrl-C too). An engine loaded before it
# (by a script or notebook that then calls pytest.main) is its loader's to keep.
_open_configs = 0
_engines_before: frozenset = frozenset()


def _vllm_module():
    import sys

    return sys.modules.get("pytest_modeleval.engines.vllm")  # only if this process imported it


def _loaded_engines() -> frozenset:
    vllm = _vllm_module()
    return vllm.loaded() if vllm is not None else frozenset()


def _shut_engines_down() -> None:
    vllm = _vllm_module()
    if vllm is not None:
        vllm.shutdown_all(keep=_engines_before)
