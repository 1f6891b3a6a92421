"""The audit configuration JSON (the spec's audit-suite schema): read, checked key by key, applied."""

from __future__ import annotations

import json

import pytest

from pytest_modeleval.perturb.audit_config import AuditConfigError, load, parse
from pytest_modeleval.perturb.choices import ShuffleChoices
from pytest_modeleval.perturb.library import Perturb
from pytest_modeleval.suite import SuiteSpec

SPEC_EXAMPLE = {  # the spec's example, with a real-looking hash
    "$schema": "https://schemas.yourorg.internal/audit-suite/v1.0",
    "audit_suite_id": "gsm8k-contamination-audit-v3",
    "model_config": {"model_id": "org/model-name", "model_version": "sha256:a1b2c3d4e5f6",
                     "endpoint": "https://inference.internal/v1/infer"},
    "dataset_config": {"benchmark_name": "gsm8k", "dataset_variant": "main", "dataset_version": "1.1.0",
                       "sample_size": 500, "sampling_seed": 42},
    "perturbation_config": {"num_variants_per_item": 3, "min_semantic_distance": 0.15,
                            "max_semantic_distance": 0.45, "perturbation_strategy": "paraphrase_llm",
                            "paraphrase_model": "org/paraphrase-model-v2"},
    "scoring_config": {"contamination_threshold": 0.10, "significance_alpha": 0.05,
                       "max_allowed_contaminated_items_pct": 5.0},
    "governance": {"audit_owner": "ml-platform-team", "review_required_above_cs": 0.25,
                   "block_deployment_above_contaminated_pct": 5.0, "result_retention_days": 365,
                   "notify_on_failure": ["ml-platform@yourorg.com", "model-governance@yourorg.com"]},
}


def edited(section: str | None, key: str, value) -> dict:
    data = json.loads(json.dumps(SPEC_EXAMPLE))
    target = data if section is None else data[section]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return data


def test_the_spec_example_is_accepted(tmp_path):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(SPEC_EXAMPLE, indent=2))
    a = load(path)
    assert a.audit_id == "gsm8k-contamination-audit-v3" and a.suite == "gsm8k"
    assert a.model_version == "sha256:a1b2c3d4e5f6" and a.matches("a1b2c3d4e5f6" + "0" * 52)
    assert not a.matches("ff" * 32)
    assert (a.sample_size, a.sampling_seed, a.variants, a.window) == (500, 42, 3, (0.15, 0.45))
    assert a.strategies == ("paraphrase_llm",) and a.paraphrase_model == "org/paraphrase-model-v2"
    assert (a.threshold, a.alpha, a.max_flagged, a.review_above_cs) == (0.10, 0.05, 0.05, 0.25)
    assert a.notify == ("ml-platform@yourorg.com", "model-governance@yourorg.com") and a.retention_days == 365
    assert a.record()["audit_config"] == path.read_text() and len(a.sha256) == 64


@pytest.mark.parametrize("section, key, value, message", [
    ("model_config", "model_version", "org/model-name:latest", "must pin a content hash"),
    ("model_config", "model_version", ..., "model_config.model_version is required"),
    ("dataset_config", "benchmark_name", ..., "dataset_config.benchmark_name is required"),
    ("dataset_config", "sample_size", 0, "dataset_config.sample_size must be a whole number >= 1, got 0"),
    ("dataset_config", "sampling_seed", "42", "dataset_config.sampling_seed must be a whole number >= 0"),
    ("dataset_config", "sample_sise", 5, "unknown key 'sample_sise' in dataset_config"),
    ("perturbation_config", "min_semantic_distance", 0.5, "min_semantic_distance 0.5 must be below"),
    ("perturbation_config", "max_semantic_distance", ..., "give both min_semantic_distance and"),
    ("perturbation_config", "perturbation_strategy", "synonyms", "perturbation_strategy must be one of"),
    ("perturbation_config", "paraphrase_model", ..., "paraphrase_model is required by the paraphrase_llm"),
    ("scoring_config", "significance_alpha", 5, "significance_alpha must be a number between 0 and 1, got 5"),
    ("scoring_config", "max_allowed_contaminated_items_pct", True, "must be a number between 0 and 100"),
    ("governance", "notify_on_failure", "a@b.c", "notify_on_failure must be a list of strings"),
    (None, "audit_suite_id", ..., "audit_suite_id is required"),
    (None, "scoring", {}, "unknown key 'scoring' in the top level"),
    (None, "governance", [], "governance must be a JSON object, got list"),
])
def test_bad_values_name_the_file_and_key(tmp_path, section, key, value, message):
    with pytest.raises(AuditConfigError, match="audit.json") as err:
        parse(edited(section, key, value), tmp_path / "audit.json")
    assert message in str(err.value)


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "audit.json"
    path.write_text('{\n  "audit_suite_id": "x",\n  "model_config": {,}\n}')
    with pytest.raises(AuditConfigError, match=r"audit.json:3:20: invalid JSON"):
        load(path)
    with pytest.raises(AuditConfigError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_stricter_percentage_is_the_gate():
    a = parse(edited("governance", "block_deployment_above_contaminated_pct", 2.5), None)
    assert a.max_flagged == 0.025


def test_apply_pins_the_suite():
    data = edited("perturbation_config", "perturbation_strategy", ["suite", "reframe"])
    a = parse(data, None)
    spec = SuiteSpec("gsm8k", "x.jsonl", sample=None, seed=None, perturbations=10,
                     perturb=Perturb([ShuffleChoices()], window="factual"))
    applied = a.apply(spec)
    assert (applied.sample, applied.seed, applied.perturbations) == (500, 42, 3)
    assert [g.name for g in applied.perturb.generators] == ["shuffle_choices", "reframe_question"]
    assert applied.perturb.window == (0.15, 0.45) and applied.perturb.review_above_cs == 0.25
    bare = SuiteSpec("gsm8k", "x.jsonl")
    with pytest.raises(AuditConfigError, match="declares no perturb="):
        parse(edited("perturbation_config", "perturbation_strategy", "suite"), None).apply(bare)
