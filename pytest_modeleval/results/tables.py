"""Every column of the results DB, as {name: Python type} per table: the one place a column is declared.

schema.py builds the SQLAlchemy tables from these dicts (and adds keys and indexes), migrate.py adds a
column that a DB lacks, and the store writes rows shaped by them. See docs/database.md.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

RUNS = {
    "id": int, "started_at": str, "ended_at": str, "exit_status": int,
    "model_ref": str, "model_hash": str, "model_kind": str, "hash_basis": str,
    "engine": str, "engine_version": str, "engine_device": str, "engine_dtype": str,
    "engine_setup": str,  # how the engine ran, as JSON (vLLM: mode, threads and cores, KV cache, window)
    "chat_template_sha256": str, "harness_version": str, "git_commit": str, "git_dirty": int,
    "python": str, "pytest": str, "torch": str, "transformers": str,
    "seed": int, "eval_limit": int, "shard": str, "cache_mode": str, "command": str, "machine": str,
    "settings": str, "requests": int, "cache_hits": int, "prompt_tokens": int, "completion_tokens": int,
    "new_prompt_tokens": int, "new_completion_tokens": int, "estimated_cost_usd": float,
    "truncated_prompts": int,  # prompts cut to the model's window (suites with truncate=True)
    "sandbox": str,
    "baseline_run_id": int, "gate_status": str, "gates_failed": int, "overrides": str,
    "judge_ref": str, "judge_hash": str, "judge_self": int,
    # the contamination audit (pytest_modeleval.perturb): its configuration file, and the review flag
    "audit_id": str, "audit_config": str, "audit_sha256": str, "review_required": int, "review_reason": str,
    # shards in one shared DB (pytest_modeleval.results.rungroup): the group id, and the union run a shard went into
    "run_group": str, "group_run_id": int,
    # promotion integrity (pytest_modeleval.gates.reviewed): gate configuration and suite files not as committed
    "unreviewed": str,
    # a model from an MLflow registry (pytest_modeleval.registry): the version resolved when the run started, the
    # alias it was found by, the server (password redacted), and the MLflow run the verdicts were written to
    "mlflow_model": str, "mlflow_version": str, "mlflow_alias": str, "mlflow_server": str, "mlflow_run": str,
}
SUITES = {
    "run_id": int, "suite": str, "source": str, "data_sha256": str, "n_rows": int,
    "sample": int, "sample_seed": int, "chat": int, "perturbations": int, "truncate": int,
    # judged suites (pytest_modeleval.judge): the run's figures per suite
    "judge_hash": str, "judge_template_sha256": str, "judge_counted": int, "judged": int, "judge_errors": int,
    "win_rate": float, "win_ci_lo": float, "win_ci_hi": float, "lc_win_rate": float, "first_slot_rate": float,
    "mean_rating": float,
    # perturbed suites: the distance window and the contamination scoring (Perturb or the audit configuration)
    "variant_window": str, "cs_threshold": float, "cs_alpha": float, "review_above_cs": float, "audit_id": str,
    # rotating samples: the period whose seeded sample ran (the pool is data_sha256 / n_rows)
    "rotation": str,
    # repeated samples: K, the samples per item of a suite declared with samples=K (its test ids end -s0 .. -sK-1)
    "samples": int,
    # contamination evidence (pytest_modeleval.perturb.evidence): the suite's instruments and settings, as JSON
    "evidence": str,
    # red-team suites (pytest_modeleval.redteam): who classified, and the learned classifier's corrected rate
    "refusal_classifier": str, "refusal_classifier_version": str, "refusal_corrected": float,
    "refusal_corrected_lo": float, "refusal_corrected_hi": float,
}
OUTCOMES = {
    "id": int, "run_id": int, "suite": str, "item_id": str, "variant": int, "variant_id": int, "test_id": str,
    "outcome": str, "score": float, "prompt_hash": str, "prompt": str, "response": str,
    "message": str, "metrics": str, "duration": float, "requests": int, "cache_hits": int, "prompt_tokens": int,
    "completion_tokens": int, "new_prompt_tokens": int, "new_completion_tokens": int, "finished_at": str,
    "p_correct": float,  # multiple-choice items: the probability on the right answer (pytest_modeleval.stats.pcorrect)
    "truncated_prompts": int,  # of this test's prompts, those cut to the model's window (its suite's truncate=True)
}
# One row per gate per suite per run (see pytest_modeleval.gates).
GATES = {
    "run_id": int, "suite": str, "gate": str, "metric": str, "kind": str, "verdict": str, "n": int,
    "value": float, "ci_lo": float, "ci_hi": float, "baseline_run_id": int, "baseline_value": float,
    "delta": float, "p_value": float, "test": str, "message": str, "missing": str, "override": str,
    # family-wise control and power (regression gates): p adjusted over the run's family, how, its size,
    # the smallest fall detectable with 80% power, the items a fall of the margin needs (thresholds: to
    # show the bound), and whether the gate could not see a fall beyond its margin
    "p_adjusted": float, "correction": str, "family_size": int, "detectable": float, "needed_n": int,
    "underpowered": int,
    # a sequential gate (gates/sequential.py): its decision as JSON (verdict, round, items of how many, e-value,
    # bound), or {"open": rounds} when the items ran out first
    "sequential": str,
}
# Which checkpoint each channel points at, newest last; the newest `production` row is the gates' baseline.
PROMOTIONS = {
    "id": int, "model_hash": str, "channel": str, "run_id": int, "promoted_at": str, "by": str, "note": str,
}
# `modeleval watch`: one row per checkpoint (by content hash) seen in a watched directory.
WATCH_QUEUE = {
    "id": int, "model_hash": str, "path": str, "status": str, "queued_at": str, "started_at": str,
    "finished_at": str, "attempts": int, "pid": int, "run_id": int, "exit_status": int, "message": str,
    # the claim: the watcher's machine (its pid means nothing elsewhere) and when its lease runs out (epoch s)
    "host": str, "lease_until": float,
}
# One row per judged item (pytest_modeleval.judge): what the judge saw, said, and how it was read.
JUDGMENTS = {
    "id": int, "run_id": int, "suite": str, "test_id": str, "item_id": str, "variant": int, "kind": str,
    "judge_hash": str, "template_sha256": str, "question": str, "candidate": str, "reference": str,
    "candidate_slots": str, "slot_verdicts": str, "outputs": str, "attempts": int, "outcome": str,
    "win_value": float, "rating": float, "scale": int, "error": str,
    "flips": int,  # a verdict asked several times (judge/stability.py): how many differ from the most common
}
# A baseline run's stored answers judged again by a later run's judge (pytest_modeleval.judge.rejudge): run_id is
# the baseline run, judged_in_run_id the run that asked; one row per item, judge and template.
REJUDGMENTS = {**JUDGMENTS, "judged_in_run_id": int, "created_at": str}
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
# The contamination score of a run's perturbed suites (pytest_modeleval.perturb.feature): one row per suite ...
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
    # the evidence table (perturb/evidence.py), when the suite asks for membership or overlap
    "min_k": float, "min_k_pp": float, "membership_pct": float, "membership_basis": str, "membership_n": int,
    "overlap_shared": int,
    "overlap_total": int, "overlap_source": str, "evidence_verdict": str,
}
# `modeleval judge validate`: the judge's agreement with human labels, per judge and prompt template.
JUDGE_VALIDATIONS = {
    "id": int, "judge_hash": str, "judge_ref": str, "template_sha256": str, "labels_file": str,
    "labels_sha256": str, "n": int, "n_errors": int, "agreement": float, "kappa": float, "kappa_lo": float,
    "kappa_hi": float, "min_kappa": float, "passed": int, "first_slot_rate": float, "both_orders": int,
    "created_at": str, "details": str,
    # --samples K (judge/stability.py): the verdicts asked per pair, the rule settling them, how often they differed
    "samples": int, "flip_rule": str, "flip_rate": float,
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
# One row per run group (pytest_modeleval.results.rungroup): claimed by the shard that builds the union run.
RUN_GROUPS = {"model_hash": str, "run_group": str, "n_shards": int, "run_id": int, "created_at": str}
TABLES = {"runs": RUNS, "suites": SUITES, "outcomes": OUTCOMES, "gates": GATES, "promotions": PROMOTIONS,
          "watch_queue": WATCH_QUEUE, "judgments": JUDGMENTS, "rejudgments": REJUDGMENTS, "judge_validations": JUDGE_VALIDATIONS,
          "human_samples": HUMAN_SAMPLES, "human_labels": HUMAN_LABELS, "refusals": REFUSALS,
          "classifier_validations": CLASSIFIER_VALIDATIONS, "variants": VARIANTS,
          "contamination": CONTAMINATION, "contamination_items": CONTAMINATION_ITEMS, "run_groups": RUN_GROUPS}
OUTCOME_VALUES = ("correct", "wrong", "error", "skipped")
