"""The one protocol of a feature that adds to a run: the judge, the red team, contamination, and later ones.

The session and the gate keeper hold a list of features and loop over it; neither names one. A
feature sees a run at a few points, every one optional (the base class does nothing at each):

- in the process that ran a test (an xdist worker, or the only process): `payload(item)`, its part
  of the outcome payload the report carries to the controller;
- in the controller: `collect(payload)` per outcome, `record_outcome` beside the outcome row,
  `run_fields()` for the run record, `record` at the run's end, `summary_lines()` for the terminal;
- in the gates (a session's and a recorded run's, one path: gates/run.py): `gate_rows`, then
  `gate_baseline`, then `adjust_gates` on the evaluated report, before the overrides;
- on a recorded run: `from_recorded` rebuilds the feature from the results DB for gating it,
  `regated` keeps what the new verdicts change, `merged` recomputes figures over merged shards.

FEATURES names the built-in ones as "module:Class" strings, imported when a run builds them: the
features sit above the runtime in the import layers (a feature uses the runtime, never the reverse),
so this list names them without importing them, as cli/__init__.py's SUBCOMMANDS does. A new
feature adds one line here; the order is the order of the summary lines and the gate adjustments.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

FEATURES = (
    "pytest_modeleval.judge.run:RunJudgments",
    "pytest_modeleval.redteam.run:RunRefusals",
    "pytest_modeleval.perturb.run:RunContamination",
)


@dataclass(frozen=True)
class RunContext:
    """What a feature may know of the run it joins when a session builds it."""

    settings: object  # config.Settings
    rootpath: Path = Path(".")  # where paths in the summary are shown from
    audit: object = None  # perturb.audit_config.AuditConfig, when --eval-audit names one
    judge_self: bool = False  # the model under evaluation is its own judge (--judge-allow-self)


class RunFeature:
    """A feature's part in a run; each method's default does nothing, so a feature defines only its own."""

    @classmethod
    def for_run(cls, run: RunContext) -> RunFeature:
        """The feature for a session's run (every process builds one; only the controller's collects)."""
        return cls()

    # --- the process that ran the test ------------------------------------------------------------
    def payload(self, item) -> dict:
        """This test's part of the outcome payload, read from `item.stash` (keys from pytest_modeleval.stash)."""
        return {}

    # --- the controller ---------------------------------------------------------------------------
    def collect(self, payload: dict) -> None:
        """One outcome payload (every feature sees every outcome)."""

    def record_outcome(self, store, run_id: int, payload: dict) -> None:
        """What the feature keeps of one outcome in the results DB, after its outcome row."""

    def run_fields(self) -> dict:
        """Columns of the run record, written when the run starts."""
        return {}

    def record(self, store, run_id: int, completed: bool = True) -> None:
        """The feature's figures at the run's end, after the gates; `completed` is False for an interrupted run."""

    def summary_lines(self) -> list:
        """Lines for the terminal summary: a str, or (str, markup) with markup for write_line (red=True, ...)."""
        return []

    # --- the gates --------------------------------------------------------------------------------
    def gate_rows(self, rows: list[dict]) -> list[dict]:
        """The outcome rows the gates evaluate (a feature may add metrics to them)."""
        return rows

    def gate_baseline(self, db, baseline):
        """The baseline the gates compare against (a feature may re-read its rows); `db` is the results DB."""
        return baseline

    def adjust_gates(self, report, rules, baseline) -> None:
        """Change or add gate results of the evaluated report (before the overrides apply)."""

    # --- a recorded run ---------------------------------------------------------------------------
    @classmethod
    def from_recorded(cls, store, run_id: int, rows: list[dict], settings) -> RunFeature | None:
        """The feature rebuilt from the results DB for gating a recorded run; None: it takes no part."""
        return None

    def regated(self, store, run_id: int) -> list[str]:
        """After a recorded run's new verdicts are recorded: what the feature keeps of them; the lines to show."""
        return []

    @classmethod
    def merged(cls, store, run_id: int, settings) -> None:
        """Recompute the feature's figures of a run merged from shards (each shard's covered its own slice)."""


def feature_classes() -> tuple[type[RunFeature], ...]:
    """The classes FEATURES names (imported once: Python keeps the modules)."""
    classes = []
    for spec in FEATURES:
        module, _, name = spec.partition(":")
        classes.append(getattr(importlib.import_module(module), name))
    return tuple(classes)


def session_features(run: RunContext) -> list[RunFeature]:
    """Every feature, built for a session's run."""
    return [cls.for_run(run) for cls in feature_classes()]


def recorded_features(store, run_id: int, rows: list[dict], settings) -> list[RunFeature]:
    """The features that take part in gating a recorded run, rebuilt from the results DB."""
    built = (cls.from_recorded(store, run_id, rows, settings) for cls in feature_classes())
    return [feature for feature in built if feature is not None]


def merged_figures(store, run_id: int, settings) -> None:
    """Every feature's figures recomputed over a run merged from shards."""
    for cls in feature_classes():
        cls.merged(store, run_id, settings)
