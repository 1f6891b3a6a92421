"""pytest entry point: options, the session object, and the fixtures. Nothing heavy is imported here.

A project with the plugin installed pays for this module only; models, torch and the
database are touched when a run actually names a model.
"""

from __future__ import annotations

import pytest

from . import config as cfg
from .collect import NO_MODEL_REASON, SuiteCollector
from .suite import MARK

SESSION_KEY = pytest.StashKey["EvalSession"]()
COLLECTOR_KEY = pytest.StashKey[SuiteCollector]()
GATES_KEY = pytest.StashKey["GateKeeper"]()


def pytest_addhooks(pluginmanager):
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    cfg.add_options(parser)


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARK}(spec): an eval suite declared with pytest_modeleval.suite()")
    cli = {option.name: config.getoption(f"modeleval_{option.name}") for option in cfg.OPTIONS}
    try:
        settings = cfg.build_settings(cli, config.rootpath / "pyproject.toml",
                                      config.invocation_params.dir, config.rootpath)
    except cfg.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    audit = _load_audit(settings)
    if audit is not None and settings.model is None:  # the audit pins the checkpoint: it is the model
        import dataclasses

        settings = dataclasses.replace(settings, model=audit.model_version,
                                       sources={**settings.sources, "model": f"{audit.path} model_config.model_version"})
    resolved = None
    if settings.model is not None:
        from .modelref import ModelRefError, resolve

        try:
            resolved = resolve(settings.model, registry=settings.registry, base_dir=settings.model_base)
        except ModelRefError as exc:
            where = settings.sources.get("model", "--model")
            raise pytest.UsageError(f"{where}: {exc}") from None
    if audit is not None and not audit.matches(resolved.sha256):
        raise pytest.UsageError(f"{audit.path}: model_config.model_version {audit.model_version} is not the model "
                                f"under evaluation, {settings.model} (sha256:{resolved.sha256}); the audit pins its "
                                "checkpoint by content hash")
    judge = _resolve_judge(settings, resolved)
    from .suites import sources

    sources.set_data_dir(settings.data_dir)
    collector = SuiteCollector(settings, has_model=resolved is not None, has_judge=judge is not None, audit=audit)
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "modeleval-collector")
    if resolved is not None:
        from .session import EvalSession

        session = EvalSession(config, settings, resolved, collector.suite_meta, judge=judge, audit=audit)
        config.stash[SESSION_KEY] = session
        config.pluginmanager.register(session, "modeleval-session")
        if settings.gate_mode != "off":
            _register_gates(config, settings, session, audit)


def _load_audit(settings):
    """The --eval-audit configuration, checked now: a bad file is a usage error before anything runs."""
    if settings.audit is None:
        return None
    from .perturb.audit_config import AuditConfigError, load

    try:
        return load(settings.audit)
    except AuditConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _resolve_judge(settings, resolved):
    """The --judge model, refused when it is the model under evaluation unless --judge-allow-self."""
    if settings.judge is None or resolved is None:
        return None
    from .modelref import ModelRefError, resolve

    where = settings.sources.get("judge", "--judge")
    try:
        judge = resolve(settings.judge, registry=settings.registry, base_dir=settings.model_base)
    except ModelRefError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    if judge.sha256 == resolved.sha256 and not settings.judge_allow_self:
        raise pytest.UsageError(
            f"{where} {settings.judge}: the judge is the model under evaluation (sha256:{judge.short}); a model "
            "judging its own answers favours them (self-preference). Use a different judge, or pass "
            "--judge-allow-self to do it anyway (the run records it).")
    return judge


def _register_gates(config, settings, session, audit=None) -> None:
    """The promotion gates (pytest_modeleval.gates), configured from [tool.modeleval.gates]."""
    from .gates import rules
    from .gates.plugin import GateKeeper

    try:
        gate_rules = rules.load(config.rootpath / "pyproject.toml")
    except cfg.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if audit is not None:  # the audit's deployment gate, for its suite
        gate_rules = rules.with_suite_rule(gate_rules, audit.suite, "contamination", max=audit.max_flagged)
    session.gate_rules = gate_rules  # the planner re-judges a baseline only for a gate that compares it
    keeper = GateKeeper(config, settings, session, gate_rules)
    config.stash[GATES_KEY] = keeper
    config.pluginmanager.register(keeper, "modeleval-gates")


def pytest_unconfigure(config):
    for key in (GATES_KEY, SESSION_KEY, COLLECTOR_KEY):
        plugin = config.stash.get(key, None)
        if plugin is not None:
            del config.stash[key]
            config.pluginmanager.unregister(plugin)


@pytest.fixture
def model(request):
    """The model under evaluation (the --model reference), bound to the calling suite's settings."""
    from .handle import Model

    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL_REASON)
    marker = request.node.get_closest_marker(MARK)
    return Model(session.predictor, session.resolved, _call_log(request),
                 chat=bool(marker and marker.args[0].chat), seed=session.settings.seed)


def _call_log(request):
    """The per-test log of prompts, answers and usage that becomes the outcome row."""
    from .handle import CallLog
    from .session import LOG_KEY

    log = request.node.stash.get(LOG_KEY, None)
    if log is None:
        log = request.node.stash[LOG_KEY] = CallLog()
    return log


def planned_value(request, wanted: type, fixture: str):
    """This test's declared result, running the whole plan (every collected item) on first use."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL_REASON)
    marker = request.node.get_closest_marker(MARK)
    declared = marker.args[0].request if marker else None
    if not isinstance(declared, wanted):
        names = " or ".join(f"modeleval.{w.__name__}(...)" for w in (wanted if isinstance(wanted, tuple) else (wanted,)))
        raise pytest.UsageError(f"{request.node.nodeid}: the `{fixture}` fixture needs a suite declared with "
                                f"request={names}")
    planned = session.planner.result(request.node, request.session.items)
    value = planned.value  # raises the planning or engine error, which makes this test an error
    log = _call_log(request)
    for prompt, prediction in zip(planned.prompts, planned.predictions):
        log.add(prompt, prediction)
    return value


@pytest.fixture
def completion(request):
    """The declared Generate request's completion for this item (a list when samples > 1)."""
    from .declare import Generate

    return planned_value(request, Generate, "completion")


@pytest.fixture
def loglikelihoods(request):
    """The declared Choices request's loglikelihood per choice for this item."""
    from .declare import Choices
    from .session import P_CORRECT_KEY

    values = planned_value(request, Choices, "loglikelihoods")
    declared = request.node.get_closest_marker(MARK).args[0].request
    if declared.answer is not None:  # a bad answer field makes this item an error naming it
        request.node.stash[P_CORRECT_KEY] = declared.p_correct(request.node.callspec.params["item"], values)
    return values


@pytest.fixture
def choice(loglikelihoods):
    """Index of the most likely declared choice (lm-eval's `acc`)."""
    from .handle import argmax

    return argmax(loglikelihoods)


@pytest.fixture
def record_score(request):
    """Record a graded score in [0, 1] for this item (the default is 1 for right, 0 for wrong)."""
    from .session import SCORE_KEY

    def record(value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"record_score: a score must lie in [0, 1], got {value}")
        request.node.stash[SCORE_KEY] = value

    return record


@pytest.fixture
def record_metric(request):
    """Record a named per-item metric (a number); the summary shows its mean per suite, the DB keeps each."""
    from .session import METRICS_KEY

    def record(name: str, value: float) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"record_metric: a metric needs a non-empty name, got {name!r}")
        metrics = request.node.stash.setdefault(METRICS_KEY, {})
        metrics[name] = float(value)

    return record


@pytest.fixture
def judge(request):
    """The judge model (--judge): judge.compare(question, candidate, reference) and judge.grade(question, answer)."""
    from .judge.fixture import judge_for

    return judge_for(request)


@pytest.fixture
def judgment(request):
    """The judge's decision about this item's declared answer (modeleval.Pairwise or modeleval.Graded)."""
    from .judge.declare import JUDGED
    from .judge.fixture import recorded
    from .roles import NoProduction

    try:
        value = planned_value(request, JUDGED, "judgment")
    except NoProduction as exc:
        pytest.skip(str(exc))
    return recorded(request, value)


@pytest.fixture
def refusal(request):
    """Whether the model refused this red-team item (modeleval.Refusal): .refused, .label, .completion."""
    from .redteam.declare import Refusal
    from .redteam.fixture import recorded

    return recorded(request, planned_value(request, Refusal, "refusal"))


@pytest.fixture
def sandbox(request):
    """Runs model-generated code isolated and under limits: sandbox.run(program, tests) -> SandboxResult."""
    from .sandbox.fixture import sandbox_for

    return sandbox_for(request)
