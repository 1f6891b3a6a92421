"""The fixtures a suite's test asks for: model, completion, loglikelihoods, choice, judge, judgment, refusal,
sandbox, record_score and record_metric. Each reads the session from `config.stash`; nothing heavy is
imported until a test asks.
"""

from __future__ import annotations

import pytest

from ..stash import SESSION_KEY
from ..suite import MARK, NO_MODEL_REASON


@pytest.fixture
def model(request):
    """The model under evaluation (the --model reference), bound to the calling suite's settings."""
    from ..runtime.handle import Model

    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL_REASON)
    spec = getattr(request.node.get_closest_marker(MARK), "args", [None])[0]
    return Model(session.predictor, session.resolved, session.call_log(request.node),
                 chat=bool(spec and spec.chat), seed=session.settings.seed, truncate=bool(spec and spec.truncate))


def planned_value(request, wanted: type, fixture: str):
    """This test's declared result, running the whole plan (every collected item) on first use."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL_REASON)
    return session.planned_value(request, wanted, fixture)


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

    return judge_for(request)


@pytest.fixture
def judgment(request):
    """The judge's decision about this item's declared answer (modeleval.Pairwise or modeleval.Graded)."""
    from ..judge.declare import JUDGED
    from ..judge.fixture import recorded
    from ..runtime.roles import NoProduction

    try:
        value = planned_value(request, JUDGED, "judgment")
    except NoProduction as exc:
        pytest.skip(str(exc))
    return recorded(request, value)


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
