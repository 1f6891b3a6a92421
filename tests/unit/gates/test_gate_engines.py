"""A regression gate against a baseline run on another engine or dtype names the difference; the
comparison itself stays paired and its verdict unchanged."""

from __future__ import annotations

from pytest_modeleval.gates import rules
from pytest_modeleval.gates.baseline import Baseline
from pytest_modeleval.gates.engines import difference
from pytest_modeleval.gates.verdicts import gate_run
from pytest_modeleval.results.store import Store


def _rows(values) -> list[dict]:
    return [{"suite": "s", "item_id": f"s-{i:03d}", "outcome": "correct" if v else "wrong", "score": float(v),
             "metrics": None} for i, v in enumerate(values)]


def _gate(tmp_path, baseline_engine: dict, current_engine: dict):
    store = Store(tmp_path / "results.sqlite")
    try:
        first = store.start_run({"model_hash": "a" * 64, **baseline_engine})
        second = store.start_run({"model_hash": "a" * 64, **current_engine})
        rows = _rows([1, 0] * 20)
        baseline = Baseline(first, "a" * 64, f"run {first}", rows)
        report = gate_run(rules.parse({}), rows, baseline, "", [], db=store.db, model_hash="a" * 64, run_id=second)
    finally:
        store.close()
    return next(r for r in report.results if r.rule.name == "no-regression")


def test_a_baseline_on_another_engine_is_named_in_the_message(tmp_path):
    result = _gate(tmp_path, {"engine": "hf", "engine_dtype": "float32"},
                   {"engine": "vllm", "engine_dtype": "bfloat16"})
    assert result.message.endswith("(baseline on hf float32, this run on vllm bfloat16: the engines differ)")
    assert result.test == "McNemar exact" and result.n == 40  # still the paired comparison
    assert result.verdict in ("pass", "underpowered")


def test_the_same_engine_adds_nothing_and_a_dtype_alone_is_named(tmp_path):
    same = _gate(tmp_path / "same", {"engine": "hf", "engine_dtype": "float32"},
                 {"engine": "hf", "engine_dtype": "float32"})
    assert "baseline on" not in same.message
    assert difference(("vllm", "float32"), ("vllm", "bfloat16")) == \
        "(baseline on vllm float32, this run on vllm bfloat16: the dtypes differ)"
    assert difference(None, ("hf", "float32")) == ""  # a run that never loaded an engine: nothing to say
