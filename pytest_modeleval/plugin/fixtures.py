"""The fixtures a suite's test asks for: model, completion, loglikelihoods, choice, judge, judgment, refusal,
lm_eval_values, sandbox, record_score and record_metric. Each finds the run in `config.stash` and takes what it needs of it:
the model pool (runtime/pool.py) and the planner (runtime/planner.py), never the session's other state;
nothing heavy is imported until a test asks.
"""

from __future__ import annotations

import pytest

from ..stash import SESSION_KEY
from ..suite import MARK, NO_MODEL_REASON


def _run(request):
    """The session of a model run, or a skip: without --model no test of a suite runs."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL_REASON)
    return session


def call_log(node):
    """The test's log of prompts, answers and usage that becomes its outcome row."""
    from ..runtime.handle import CallLog
    from ..stash import LOG_KEY

    log = node.stash.get(LOG_KEY, None)
    if log is None:
        log = node.stash[LOG_KEY] = CallLog()
    return log


@pytest.fixture
def model(request):
    """The model under evaluation (the --model reference), bound to the calling suite's settings."""
    from ..runtime.handle import Model

    pool = _run(request).pool
    spec = getattr(request.node.get_closest_marker(MARK), "args", [None])[0]
    return Model(pool.predictor(), pool.resolved, call_log(request.node), chat=bool(spec and spec.chat),
                 seed=pool.settings.seed, truncate=bool(spec and spec.truncate))


def planned_value(request, wanted: type | tuple[type, ...], fixture: str):
    """This test's declared result, running the whole plan (every collected item) on first use."""
    return planned_result(request, _run(request).planner, wanted, fixture)


def planned_result(request, planner, wanted: type | tuple[type, ...], fixture: str):
    """This test's declared result from the planner; its model calls go into the test's call log."""
    marker = request.node.get_closest_marker(MARK)
    declared = marker.args[0].request if marker else None
    if not isinstance(declared, wanted):
        names = " or ".join(f"modeleval.{w.__name__}(...)" for w in (wanted if isinstance(wanted, tuple) else (wanted,)))
        raise pytest.UsageError(f"{request.node.nodeid}: the `{fixture}` fixture needs a suite declared with "
                                f"request={names}")
    planned = planner.result(request.node, request.session.items)
    value = planned.value  # raises the planning or engine error, which makes this test an error
    log = call_log(request.node)
    for prompt, prediction in zip(planned.prompts, planned.predictions):
        log.add(prompt, prediction)
    return value


@pytest.fixture
def completion(request):
    """The declared Generate request's completion for this item (a list when samples > 1)."""
    from ..runtime.declare import Generate

    return planned_value(request, Generate, "completion")


@pytest.fixture
def loglikelihoods(request):
    """The declared Choices request's loglikelihood per choice for this item."""
    from ..runtime.declare import Choices
    from ..stash import P_CORRECT_KEY

    values = planned_value(request, Choices, "loglikelihoods")
    declared = request.node.get_closest_marker(MARK).args[0].request
    if declared.answer is not None:  # a bad answer field makes this item an error naming it
        request.node.stash[P_CORRECT_KEY] = declared.p_correct(request.node.callspec.params["item"], values)
    return values


@pytest.fixture
def choice(loglikelihoods):
    """Index of the most likely declared choice (lm-eval's `acc`)."""
    from ..runtime.handle import argmax

    return argmax(loglikelihoods)


@pytest.fixture
def record_score(request):
    """Record a graded score in [0, 1] for this item (the default is 1 for right, 0 for wrong)."""
    from ..stash import SCORE_KEY

    def record(value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"record_score: a score must lie in [0, 1], got {value}")
        request.node.stash[SCORE_KEY] = value

    return record


@pytest.fixture
def record_metric(request):
    """Record a named per-item metric (a number); the summary shows its mean per suite, the DB keeps each."""
    from ..stash import METRICS_KEY

    def record(name: str, value: float) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"record_metric: a metric needs a non-empty name, got {name!r}")
        metrics = request.node.stash.setdefault(METRICS_KEY, {})
        metrics[name] = float(value)

    return record


@pytest.fixture
def judge(request):
    """The judge model (--judge): judge.compare(question, candidate, reference) and judge.grade(question, answer)."""
    from ..judge.fixture import judge_for

    session = _run(request)
    return judge_for(request, session.pool, session.planner)


@pytest.fixture
def judgment(request):
    """The judge's decision about this item's declared answer (modeleval.Pairwise or modeleval.Graded)."""
    from ..judge.declare import JUDGED
    from ..judge.fixture import recorded
    from ..runtime.pool import NoProduction

    try:
        value = planned_value(request, JUDGED, "judgment")
    except NoProduction as exc:
        pytest.skip(str(exc))
    return recorded(request, value)


@pytest.fixture
def lm_eval_values(request):
    """An lm-eval task suite's results for this item, one per lm-eval Instance (modeleval.lm_eval_suite)."""
    from ..suites.lmeval import TaskRequests

    return planned_value(request, TaskRequests, "lm_eval_values")


@pytest.fixture
def refusal(request):
    """Whether the model refused this red-team item (modeleval.Refusal): .refused, .label, .completion."""
    from ..redteam.declare import Refusal
    from ..redteam.fixture import recorded

    return recorded(request, planned_value(request, Refusal, "refusal"))


@pytest.fixture
def sandbox(request):
    """Runs model-generated code isolated and under limits: sandbox.run(program, tests) -> SandboxResult."""
    from ..sandbox.fixture import sandbox_for

    return sandbox_for(request)
