"""Every pytest StashKey of the plugin, and the usage fields of the per-test record: a leaf module.

The session, the collector and the gate keeper live in `config.stash`; what one test produced
(its calls, score, metrics, a judgment or a refusal) lives in its item's stash until the report
carries it to the controller as the outcome payload. Features and fixtures take their keys from
here, so none of them imports the plugin.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import pytest

SESSION_KEY = pytest.StashKey["EvalSession"]()  # plugin/session.py, when a model is named
COLLECTOR_KEY = pytest.StashKey["SuiteCollector"]()  # plugin/collect.py
GATES_KEY = pytest.StashKey["GateKeeper"]()  # plugin/gatekeeper.py, when the gates are on
# plugin/sequential.py: a sequential suite's test -> (suite, round); the planner computes a round when it is reached
ROUND_KEY = pytest.StashKey[tuple]()

LOG_KEY = pytest.StashKey["CallLog"]()  # runtime/handle.py
SCORE_KEY = pytest.StashKey[float]()
SANDBOX_KEY = pytest.StashKey[str]()  # what ran the test's model code (the `sandbox` fixture), for the run record
# Named per-item metrics (record_metric, lm-eval task metrics), and for a metric whose suite-level value is
# not the mean of its items, the "module:function" that aggregates them (lm-eval's corpus-level metrics).
METRICS_KEY = pytest.StashKey[dict]()
AGGREGATIONS_KEY = pytest.StashKey[dict]()
JUDGMENT_KEY = pytest.StashKey[dict]()  # the judge's decision about the item (judge/judgment.py), for the DB
BASELINE_JUDGMENT_KEY = pytest.StashKey[dict]()  # this run's judge on the baseline's answer (judge/rejudge.py)
P_CORRECT_KEY = pytest.StashKey[float]()  # a multiple-choice item's probability on the right answer (stats/pcorrect.py)
REFUSAL_KEY = pytest.StashKey[dict]()  # a red-team item's answer and its class (redteam/declare.py), for the DB

# What a test's calls cost, counted per test (runtime/handle.py CallLog) and summed per suite and run.
USAGE_FIELDS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens",
                "new_prompt_tokens", "new_completion_tokens", "truncated_prompts")


Outcome = Literal["correct", "wrong", "error", "skipped"]  # results/tables.py OUTCOME_VALUES; docs/outcomes.md


class OutcomePayload(TypedDict, total=False):
    """What one test's report carries to the controller (under xdist, across processes) and the outcome row,
    the tallies, the gates and the features read: built in plugin/session.py's makereport."""

    suite: str
    item_id: str
    variant: int
    variant_id: int | None  # the variant library's row, for a perturbed item
    test_id: str
    outcome: Outcome
    score: float | None  # None for errors and skips
    p_correct: float | None  # multiple choice: the probability on the right answer
    message: str | None  # a wrong answer's assertion, an error's exception
    metrics: dict[str, Any] | None  # record_metric and lm-eval task metrics
    metric_aggregations: dict[str, str] | None  # metric -> "module:function" when not the mean
    duration: float
    prompt: str | None  # the rendered prompt (a JSON list when the test made several calls)
    prompt_hash: str | None
    response: str | None
    requests: int  # USAGE_FIELDS
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    new_prompt_tokens: int
    new_completion_tokens: int
    truncated_prompts: int
    suite_meta: dict[str, Any] | None  # the suites row (plugin/collect.py)
    engine: dict[str, Any] | None  # the runs row's engine columns, once the engine is loaded
    # the features' parts (RunFeature.payload)
    judgment: dict[str, Any] | None
    baseline_judgment: dict[str, Any] | None
    refusal: dict[str, Any] | None
    sandbox: str | None
