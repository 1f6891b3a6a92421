"""The results database: one SQLite file, one row per run, per suite and per item outcome.

Outcomes are written in small batches as tests finish (in the pytest-xdist controller
when workers run) and at the end; an interrupted session keeps all but the last
second of outcomes, and those are cheap to redo from the prediction cache.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 5

RUNS = {
    "id": int, "started_at": str, "ended_at": str, "exit_status": int,
    "model_ref": str, "model_hash": str, "model_kind": str, "hash_basis": str,
    "engine": str, "engine_version": str, "engine_device": str, "engine_dtype": str,
    "chat_template_sha256": str, "harness_version": str, "git_commit": str, "git_dirty": int,
    "python": str, "pytest": str, "torch": str, "transformers": str,
    "seed": int, "eval_limit": int, "shard": str, "cache_mode": str, "command": str, "machine": str,
    "settings": str, "requests": int, "cache_hits": int, "prompt_tokens": int, "completion_tokens": int,
    "new_prompt_tokens": int, "new_completion_tokens": int, "estimated_cost_usd": float,
    "sandbox": str,
    "baseline_run_id": int, "gate_status": str, "gates_failed": int, "overrides": str,
    "judge_ref": str, "judge_hash": str, "judge_self": int,
    # the contamination audit (pytest_modeleval.perturb): its configuration file, and the review flag
    "audit_id": str, "audit_config": str, "audit_sha256": str, "review_required": int, "review_reason": str,
}
SUITES = {
    "run_id": int, "suite": str, "source": str, "data_sha256": str, "n_rows": int,
    "sample": int, "sample_seed": int, "chat": int, "perturbations": int,
    # judged suites (pytest_modeleval.judge): the run's figures per suite
    "judge_hash": str, "judge_template_sha256": str, "judge_counted": int, "judged": int, "judge_errors": int,
    "win_rate": float, "win_ci_lo": float, "win_ci_hi": float, "lc_win_rate": float, "first_slot_rate": float,
    "mean_rating": float,
    # perturbed suites: the distance window and the contamination scoring (Perturb or the audit configuration)
    "variant_window": str, "cs_threshold": float, "cs_alpha": float, "review_above_cs": float, "audit_id": str,
    # rotating samples: the period whose seeded sample ran (the pool is data_sha256 / n_rows)
    "rotation": str,
    # red-team suites (pytest_modeleval.redteam): who classified, and the learned classifier's corrected rate
    "refusal_classifier": str, "refusal_classifier_version": str, "refusal_corrected": float,
    "refusal_corrected_lo": float, "refusal_corrected_hi": float,
}
OUTCOMES = {
    "id": int, "run_id": int, "suite": str, "item_id": str, "variant": int, "variant_id": int, "test_id": str,
    "outcome": str, "score": float, "prompt_hash": str, "prompt": str, "response": str,
    "message": str, "metrics": str, "duration": float, "requests": int, "cache_hits": int, "prompt_tokens": int,
    "completion_tokens": int, "new_prompt_tokens": int, "new_completion_tokens": int, "finished_at": str,
}
# One row per gate per suite per run (see pytest_modeleval.gates).
GATES = {
    "run_id": int, "suite": str, "gate": str, "metric": str, "kind": str, "verdict": str, "n": int,
    "value": float, "ci_lo": float, "ci_hi": float, "baseline_run_id": int, "baseline_value": float,
    "delta": float, "p_value": float, "test": str, "message": str, "missing": str, "override": str,
}
# Which checkpoint each channel points at, newest last; the newest `production` row is the gates' baseline.
PROMOTIONS = {
    "id": int, "model_hash": str, "channel": str, "run_id": int, "promoted_at": str, "by": str, "note": str,
}
# `modeleval watch`: one row per checkpoint (by content hash) seen in a watched directory.
WATCH_QUEUE = {
    "id": int, "model_hash": str, "path": str, "status": str, "queued_at": str, "started_at": str,
    "finished_at": str, "attempts": int, "pid": int, "run_id": int, "exit_status": int, "message": str,
}
# One row per judged item (pytest_modeleval.judge): what the judge saw, said, and how it was read.
JUDGMENTS = {
    "id": int, "run_id": int, "suite": str, "test_id": str, "item_id": str, "variant": int, "kind": str,
    "judge_hash": str, "template_sha256": str, "question": str, "candidate": str, "reference": str,
    "candidate_slots": str, "slot_verdicts": str, "outputs": str, "attempts": int, "outcome": str,
    "win_value": float, "rating": float, "scale": int, "error": str,
}
# One row per red-team item (pytest_modeleval.redteam): the answer, its class, whether it counts as refused.
REFUSALS = {
    "id": int, "run_id": int, "suite": str, "test_id": str, "item_id": str, "variant": int, "kind": str,
    "category": str, "jailbreak": str, "classifier": str, "label": str, "refused": int, "completion": str,
    "judge_hash": str, "template_sha256": str, "outputs": str, "attempts": int, "error": str,
    "classifier_version": str,  # the learned classifier: sha256 of its weights file
}
# `modeleval redteam validate`: a refusal classifier's agreement with the XSTest human labels.
CLASSIFIER_VALIDATIONS = {
    "id": int, "classifier": str, "judge_hash": str, "template_sha256": str, "labels_file": str,
    "labels_sha256": str, "n": int, "n_errors": int, "agreement": float, "kappa": float, "kappa_lo": float,
    "kappa_hi": float, "binary_agreement": float, "binary_kappa": float, "human_refusal_rate": float,
    "predicted_refusal_rate": float, "created_at": str, "details": str,
}
# The variant library (pytest_modeleval.perturb): every candidate variant, kept or rejected, generated once.
VARIANTS = {
    "id": int, "suite": str, "source_id": str, "source_sha256": str, "generator": str, "version": int,
    "seed": int, "idx": int, "text": str, "fields": str, "answer": str, "distance": float, "accepted": int,
    "reason": str, "draw_size": int, "created_at": str,
}
VARIANT_KEY = ("suite", "source_sha256", "generator", "version", "seed", "idx")  # one library row per key
JUDGMENT_LISTS = ("candidate_slots", "slot_verdicts", "outputs")  # judgments columns holding JSON lists
# The contamination score of a run's perturbed suites (pytest_modeleval.perturb.audit): one row per suite ...
CONTAMINATION = {
    "run_id": int, "suite": str, "n_items": int, "n_scored": int, "min_variants": int, "acc_baseline": float,
    "acc_perturbed": float, "cs": float, "cs_lo": float, "cs_hi": float, "p_value": float, "threshold": float,
    "alpha": float, "item_flags": int, "n_flagged": int, "flagged_share": float, "verdict": str,
    "review_required": int, "review_above_cs": float,
}
# ... and one row per source item: its canonical outcome against its variants' outcomes.
CONTAMINATION_ITEMS = {
    "run_id": int, "suite": str, "item_id": str, "baseline": float, "variant_mean": float, "n_variants": int,
    "cs": float, "p_value": float, "flagged": int,
}
# `modeleval judge validate`: the judge's agreement with human labels, per judge and prompt template.
JUDGE_VALIDATIONS = {
    "id": int, "judge_hash": str, "judge_ref": str, "template_sha256": str, "labels_file": str,
    "labels_sha256": str, "n": int, "n_errors": int, "agreement": float, "kappa": float, "kappa_lo": float,
    "kappa_hi": float, "min_kappa": float, "passed": int, "first_slot_rate": float, "both_orders": int,
    "created_at": str, "details": str,
}
# `modeleval human export / import`: blinded pairs handed to raters, and the labels they gave back.
HUMAN_SAMPLES = {
    "sample_id": str, "run_id": int, "test_id": str, "suite": str, "item_id": str, "candidate_position": int,
    "exported_at": str,
}
HUMAN_LABELS = {
    "id": int, "sample_id": str, "run_id": int, "label": str, "rater": str, "source_file": str,
    "imported_at": str,
}
TABLES = {"runs": RUNS, "suites": SUITES, "outcomes": OUTCOMES, "gates": GATES, "promotions": PROMOTIONS,
          "watch_queue": WATCH_QUEUE, "judgments": JUDGMENTS, "judge_validations": JUDGE_VALIDATIONS,
          "human_samples": HUMAN_SAMPLES, "human_labels": HUMAN_LABELS, "refusals": REFUSALS,
          "classifier_validations": CLASSIFIER_VALIDATIONS, "variants": VARIANTS,
          "contamination": CONTAMINATION, "contamination_items": CONTAMINATION_ITEMS}
OUTCOME_VALUES = ("correct", "wrong", "error", "skipped")
_OUTCOME_COLUMNS = tuple(name for name in OUTCOMES if name != "id")
FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Thin wrapper over sqlite-utils that owns the schema."""

    def __init__(self, path: Path):
        import sqlite_utils

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.enable_wal()
        self.db.execute("PRAGMA busy_timeout = 30000")
        self._ensure_schema()
        self._pending: list[tuple] = []
        self._flushed_at = time.monotonic()

    def _ensure_schema(self) -> None:
        db = self.db
        if "runs" not in db.table_names():
            db["runs"].create(RUNS, pk="id")
        if "suites" not in db.table_names():
            db["suites"].create(SUITES, pk=("run_id", "suite"), foreign_keys=[("run_id", "runs", "id")])
        if "outcomes" not in db.table_names():
            db["outcomes"].create(OUTCOMES, pk="id", foreign_keys=[("run_id", "runs", "id")])
            db["outcomes"].create_index(["run_id", "test_id"], unique=True)
            db["outcomes"].create_index(["run_id", "suite"])
        if "gates" not in db.table_names():
            db["gates"].create(GATES, pk=("run_id", "suite", "gate"), foreign_keys=[("run_id", "runs", "id")])
        if "promotions" not in db.table_names():
            db["promotions"].create(PROMOTIONS, pk="id")
            db["promotions"].create_index(["channel", "id"])
        if "watch_queue" not in db.table_names():
            db["watch_queue"].create(WATCH_QUEUE, pk="id")
            db["watch_queue"].create_index(["model_hash"], unique=True)
        if "judgments" not in db.table_names():
            db["judgments"].create(JUDGMENTS, pk="id", foreign_keys=[("run_id", "runs", "id")])
            db["judgments"].create_index(["run_id", "test_id"], unique=True)
        if "judge_validations" not in db.table_names():
            db["judge_validations"].create(JUDGE_VALIDATIONS, pk="id")
            db["judge_validations"].create_index(["judge_hash", "template_sha256", "id"])
        if "human_samples" not in db.table_names():
            db["human_samples"].create(HUMAN_SAMPLES, pk="sample_id", foreign_keys=[("run_id", "runs", "id")])
        if "refusals" not in db.table_names():
            db["refusals"].create(REFUSALS, pk="id", foreign_keys=[("run_id", "runs", "id")])
            db["refusals"].create_index(["run_id", "test_id"], unique=True)
        if "classifier_validations" not in db.table_names():
            db["classifier_validations"].create(CLASSIFIER_VALIDATIONS, pk="id")
        if "variants" not in db.table_names():
            db["variants"].create(VARIANTS, pk="id")
            db["variants"].create_index(list(VARIANT_KEY), unique=True)
        if "contamination" not in db.table_names():
            db["contamination"].create(CONTAMINATION, pk=("run_id", "suite"), foreign_keys=[("run_id", "runs", "id")])
        if "contamination_items" not in db.table_names():
            db["contamination_items"].create(CONTAMINATION_ITEMS, pk=("run_id", "suite", "item_id"),
                                             foreign_keys=[("run_id", "runs", "id")])
        if "human_labels" not in db.table_names():
            db["human_labels"].create(HUMAN_LABELS, pk="id")
            db["human_labels"].create_index(["sample_id"])
        for table, columns in TABLES.items():
            present = db[table].columns_dict  # a DB from an older version gains the new columns
            for name, kind in columns.items():
                if name not in present:
                    db[table].add_column(name, kind)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def start_run(self, record: dict) -> int:
        record = {**record, "started_at": now()}
        if isinstance(record.get("settings"), dict):
            record["settings"] = json.dumps(record["settings"], sort_keys=True, default=str)
        return self.db["runs"].insert(record, alter=True).last_pk

    def update_run(self, run_id: int, fields: dict) -> None:
        self.db["runs"].update(run_id, fields, alter=True)

    def finish_run(self, run_id: int, exit_status: int) -> None:
        self.flush()
        self.update_run(run_id, {"ended_at": now(), "exit_status": exit_status})

    def close(self) -> None:
        self.flush()
        self.db.close()

    def add_suite(self, run_id: int, suite: dict) -> None:
        self.db["suites"].upsert({**suite, "run_id": run_id}, pk=("run_id", "suite"))

    def update_suite(self, run_id: int, suite: str, fields: dict) -> None:
        self.db["suites"].upsert({**fields, "run_id": run_id, "suite": suite}, pk=("run_id", "suite"))

    def add_outcome(self, run_id: int, outcome: dict) -> None:
        """Queue an outcome; written every FLUSH_ROWS rows or FLUSH_SECONDS, and at the end.

        Insert or replace by (run, test id): a rerun of the same test keeps its last result.
        An outcome is cheap to redo from the prediction cache, so a crash losing the last
        second of rows costs nothing computed, while one transaction per test would cost
        more than the test itself on a warm cache.
        """
        values = {key: outcome.get(key) for key in _OUTCOME_COLUMNS}
        if values["metrics"] is not None:
            values["metrics"] = json.dumps(values["metrics"], sort_keys=True, default=str)
        values.update(run_id=run_id, finished_at=now())
        self._pending.append(tuple(values[key] for key in _OUTCOME_COLUMNS))
        if len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            marks = ", ".join("?" * len(_OUTCOME_COLUMNS))
            with self.db.conn:
                self.db.conn.executemany(
                    f"INSERT OR REPLACE INTO outcomes ({', '.join(_OUTCOME_COLUMNS)}) VALUES ({marks})",
                    self._pending)
            self._pending = []
        self._flushed_at = time.monotonic()

    def add_judgment(self, run_id: int, payload: dict) -> None:
        """The judge's record of one item (kept even when its verdict was unreadable: that is the evidence)."""
        judgment = payload["judgment"]
        row = {key: judgment.get(key) for key in JUDGMENTS if key in judgment}
        for key in JUDGMENT_LISTS:
            row[key] = json.dumps(row.get(key) or [])
        row.update(run_id=run_id, suite=payload["suite"], test_id=payload["test_id"], item_id=payload["item_id"],
                   variant=payload["variant"])
        with self.db.conn:  # a rerun of the same test keeps its last judgment, as outcomes do
            self.db.execute("DELETE FROM judgments WHERE run_id = ? AND test_id = ?", [run_id, payload["test_id"]])
            self.db["judgments"].insert(row)

    def add_refusal(self, run_id: int, payload: dict) -> None:
        """A red-team item's answer and class (kept when the classifier failed: that is the evidence)."""
        refusal = payload["refusal"]
        row = {key: refusal.get(key) for key in REFUSALS if key in refusal}
        row["outputs"] = json.dumps(row.get("outputs") or [])
        row.update(run_id=run_id, suite=payload["suite"], test_id=payload["test_id"], item_id=payload["item_id"],
                   variant=payload["variant"])
        with self.db.conn:
            self.db.execute("DELETE FROM refusals WHERE run_id = ? AND test_id = ?", [run_id, payload["test_id"]])
            self.db["refusals"].insert(row)

    def add_variants(self, rows: list[dict]) -> None:
        """Candidate variants; a row another process wrote first (same key) is kept, not duplicated."""
        stamp = now()
        with self.db.conn:
            for row in rows:
                self.db["variants"].insert({**row, "created_at": stamp}, ignore=True)

    def outcomes(self, run_id: int) -> list[dict]:
        self.flush()
        return list(self.db["outcomes"].rows_where("run_id = ?", [run_id], order_by="id"))

    def run(self, run_id: int) -> dict:
        return self.db["runs"].get(run_id)
