"""The one protocol of a feature that adds to a run: the judge, the red team, contamination, the sandbox record,
and any a third-party package adds.

The session and the gate keeper hold a list of features and loop over it; neither names one. A
feature sees a run at a few points, every one optional (the base class does nothing at each):

- in every process, while planning: `planning(rules)`, the values its declarations read from the
  PlanContext (`ctx.NAME`): the judge's identity and the baseline's judgments to re-judge, the
  production checkpoint's answers;
- in the process that ran a test (an xdist worker, or the only process): `payload(item)`, its part
  of the outcome payload the report carries to the controller;
- in the controller: `header_lines()` for the run's header, `collect(payload)` per outcome,
  `record_outcome` beside the outcome row, `run_fields()` for the run record, `record` at the run's end,
  `summary_lines()` for the terminal;
- in the gates (a session's and a recorded run's, one path: gates/verdicts.py): `gate_rows`, then
  `gate_baseline`, then `adjust_gates` on the evaluated report, before the overrides;
- on a recorded run: `from_recorded` rebuilds the feature from the results DB for gating it,
  `regated` keeps what the new verdicts change, `merged` recomputes figures over merged shards.

Which features take part is not decided here: the runtime sits below the features in the import layers
and names none. The composition roots hand the classes in: the pytest plugin gathers them from the
`pytest_modeleval_features` hook (the package's own from builtin_features.py, a third-party package's
from its plugin or conftest), the command line takes builtin_features.py's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Union

from ..config import Settings
from ..stash import OutcomePayload

if TYPE_CHECKING:
    from ..results.db import Database
    from ..results.store import Store
    from .pool import ModelPool

# Objects of the layers above the runtime (the gates' GateConfig, Baseline and GateReport, a pytest Item, the
# audit configuration) cross this seam untyped: the runtime may not name them.
Above = Any
SummaryLine = Union[str, "tuple[str, dict[str, bool]]"]  # a line, or a line and its markup (red=True, ...)


@dataclass(frozen=True)
class RunContext:
    """What a feature may know of the run it joins when a session builds it."""

    settings: Settings
    rootpath: Path = Path(".")  # where paths in the summary are shown from
    audit: Above = None  # perturb.audit_config.AuditConfig, when --eval-audit names one
    pool: ModelPool | None = None  # the run's models (the one under evaluation, the judge)


class RunFeature:
    """A feature's part in a run; each method's default does nothing, so a feature defines only its own."""

    records: str | None = None
    """How the feature's rows are named when the results DB could not take them (default: the class name
    without "Run", lowercased: "judgments" for RunJudgments)."""

    @classmethod
    def for_run(cls, run: RunContext) -> RunFeature:
        """The feature for a session's run (every process builds one; only the controller's collects)."""
        return cls()

    # --- planning (every process) -----------------------------------------------------------------
    def planning(self, rules: Above) -> dict[str, Any]:
        """Values the feature's declarations read from the PlanContext while planning, as `ctx.NAME`;
        `rules`: the run's gates.rules.GateConfig, None with the gates off."""
        return {}

    # --- the process that ran the test ------------------------------------------------------------
    def payload(self, item: Above) -> dict[str, Any]:
        """This test's part of the outcome payload, read from `item.stash` (keys from pytest_modeleval.stash)."""
        return {}

    # --- the controller ---------------------------------------------------------------------------
    def collect(self, payload: OutcomePayload) -> None:
        """One outcome payload (every feature sees every outcome)."""

    def record_outcome(self, store: Store, run_id: int, payload: OutcomePayload) -> None:
        """What the feature keeps of one outcome in the results DB, after its outcome row."""

    def header_lines(self) -> list[str]:
        """Lines for the run's header (pytest's report header), before any test runs."""
        return []

    def run_fields(self) -> dict[str, Any]:
        """Columns of the run record, written when the run starts."""
        return {}

    def models_closing(self) -> None:
        """The last moment the run's models and prediction cache are open (the session closes them before the
        features record): compute here what needs them and was not computed for the gates."""

    def record_for_union(self, store: Store, run_id: int) -> None:
        """A run group's last shard, just before the union of every shard is built and gated from the results
        DB: write now the rows of this shard that the union's gating reads (the rest is recorded at the end)."""

    def record(self, store: Store, run_id: int, completed: bool = True) -> None:
        """The feature's figures at the run's end, after the gates; `completed` is False for an interrupted run."""

    def summary_lines(self) -> list[SummaryLine]:
        """Lines for the terminal summary: a str, or (str, markup) with markup for write_line (red=True, ...)."""
        return []

    # --- the gates --------------------------------------------------------------------------------
    def gate_rows(self, rows: list[dict]) -> list[dict]:
        """The outcome rows the gates evaluate (a feature may add metrics to them)."""
        return rows

    def gate_baseline(self, db: Database | None, baseline: Above) -> Above:
        """The baseline the gates compare against (a feature may re-read its rows); `db` is the results DB."""
        return baseline

    def adjust_gates(self, report: Above, rules: Above, baseline: Above) -> None:
        """Change or add gate results of the evaluated report (before the overrides apply)."""

    # --- a recorded run ---------------------------------------------------------------------------
    @classmethod
    def from_recorded(cls, store: Store, run_id: int, rows: list[dict], settings: Settings) -> RunFeature | None:
        """The feature rebuilt from the results DB for gating a recorded run; None: it takes no part."""
        return None

    def regated(self, store: Store, run_id: int) -> list[str]:
        """After a recorded run's new verdicts are recorded: what the feature keeps of them; the lines to show."""
        return []

    @classmethod
    def merged(cls, store: Store, run_id: int, settings: Settings) -> None:
        """Recompute the feature's figures of a run merged from shards (each shard's covered its own slice)."""


def unique(classes: Iterable[type[RunFeature]]) -> tuple[type[RunFeature], ...]:
    """The classes in their first order, each once (a plugin may name one the package already has)."""
    return tuple(dict.fromkeys(classes))


def session_features(classes: Iterable[type[RunFeature]], run: RunContext) -> list[RunFeature]:
    """Every feature, built for a session's run."""
    return [cls.for_run(run) for cls in unique(classes)]


def recorded_features(classes: Iterable[type[RunFeature]], store: Store, run_id: int, rows: list[dict],
                      settings: Settings) -> list[RunFeature]:
    """The features that take part in gating a recorded run, rebuilt from the results DB."""
    built = (cls.from_recorded(store, run_id, rows, settings) for cls in unique(classes))
    return [feature for feature in built if feature is not None]


def merged_figures(classes: Iterable[type[RunFeature]], store: Store, run_id: int, settings: Settings) -> None:
    """Every feature's figures recomputed over a run merged from shards."""
    for cls in unique(classes):
        cls.merged(store, run_id, settings)


def records_of(feature: RunFeature) -> str | None:
    """How a feature's rows are named when they were not written; None when it has nothing to record."""
    if not feature:
        return None
    return feature.records or type(feature).__name__.removeprefix("Run").lower()


def planning_values(features: Iterable[RunFeature], rules) -> dict:
    """What the features provide to planning, one dict (a later feature's value for a name wins)."""
    values: dict = {}
    for feature in features:
        values.update(feature.planning(rules))
    return values
