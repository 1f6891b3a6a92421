"""Fidelity: on the same model and the same items, the ready MMLU and GSM8K suites and the
lm-eval task bridge give exactly lm-eval's `simple_evaluate` outcomes, item by item, and the
same aggregate; GSM8K's greedy completions are the same text.

Both sides run the embedded model on CPU in float32: lm-eval through its own `hf` model over the
converted checkpoint, we through our engine, planner and cache; and once more with both on vLLM.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from evalkit import embedded_vllm, query
from pytest_modeleval.suites.lmeval import TaskRequests
from pytest_modeleval.suites import formats
from testpaths import SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                reason="reference benchmark data (../shared/data next to the repo) is absent")
SUBJECTS = ("abstract_algebra", "anatomy")
MMLU_ITEMS = 5  # per subject
GSM8K_ITEMS = 4

BRIDGE = """
from pathlib import Path
import pytest_modeleval as modeleval
from pytest_modeleval.suites import formats

DATA = Path(__file__).parent / "data"

def mmlu(config):
    return {split: formats.mmlu_rows(DATA / "mmlu", config.dataset_name, split) for split in ("test", "dev")}

# A group of the user's own (include_path) over two registered MMLU tasks.
test_lm_mmlu = modeleval.lm_eval_suite("two_subjects", include_path="tasks", num_fewshot=5, data=mmlu, name="lm_mmlu")
test_lm_gsm8k = modeleval.lm_eval_suite("gsm8k_cot", data={"test": "data/gsm8k/test.jsonl"}, name="lm_gsm8k_cot")
"""


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A few items of each benchmark in the published layout, with the full few-shot (dev) files."""
    root = tmp_path / "data"
    for split in ("test", "dev"):
        (root / "mmlu" / split).mkdir(parents=True)
    for subject in SUBJECTS:
        source = SHARED_DATA / "mmlu" / "test" / f"{subject}_test.csv"
        with source.open(newline="") as src, (root / "mmlu" / "test" / source.name).open("w", newline="") as dst:
            csv.writer(dst).writerows(islice(csv.reader(src), MMLU_ITEMS + 1))  # the header and MMLU_ITEMS rows
        shutil.copy(SHARED_DATA / "mmlu" / "dev" / f"{subject}_dev.csv", root / "mmlu" / "dev")
    (root / "gsm8k").mkdir()
    lines = (SHARED_DATA / "gsm8k" / "test.jsonl").read_text().splitlines(keepends=True)
    (root / "gsm8k" / "test.jsonl").write_text("".join(lines[:GSM8K_ITEMS]))
    return root


def lm_eval_samples(tasks: dict, model=None) -> dict:
    """simple_evaluate with lm-eval's own model (its hf model on the embedded checkpoint unless one is given):
    {task: {doc_id: {filter: sample}}}."""
    from lm_eval import simple_evaluate

    if model is None:
        model = "hf"
        model_args = {"pretrained": str(embedded_dir()), "dtype": "float32", "device": "cpu"}
    out = simple_evaluate(model=model, model_args=model_args if model == "hf" else None,
                          tasks=list(tasks.values()), log_samples=True, batch_size=16, bootstrap_iters=0)
    samples: dict = {}
    for task, logged in out["samples"].items():
        for sample in logged:
            samples.setdefault(task, {}).setdefault(sample["doc_id"], {})[sample["filter"]] = sample
    return {"samples": samples, "results": out["results"]}


def embedded_dir() -> Path:
    from pytest_modeleval.engines.hf import model_dir
    from pytest_modeleval.modelref import resolve

    return model_dir(resolve("embedded"))


def load_tasks(name: str, data, shots: int | None) -> dict:
    return TaskRequests(name, num_fewshot=shots, fewshot_seed=1234, include_path=None, include_defaults=True,
                        data=data, overrides=None, gen_kwargs=None, chat=False, fewshot_as_multiturn=False,
                        system_instruction=None, base_dir=Path(".")).tasks


GROUP = "group: two_subjects\ntask:\n" + "".join(f"  - mmlu_{subject}\n" for subject in SUBJECTS)


def our_outcomes(where: Path, data_dir: Path, keyword: str, *args: str) -> dict[str, dict]:
    """The ready suites and the bridge through pytest, in a process of their own (as a user runs them)."""
    (where / "test_bridge.py").write_text(BRIDGE)
    (where / "tasks").mkdir()
    (where / "tasks" / "two_subjects.yaml").write_text(GROUP)
    result = subprocess.run([sys.executable, "-m", "pytest", "test_bridge.py", "--pyargs",
                             "pytest_modeleval.suites.test_mmlu", "pytest_modeleval.suites.test_gsm8k",
                             "--model=embedded", f"--eval-data-dir={data_dir}", "-k", keyword, "-p", "no:cacheprovider",
                             *args],
                            cwd=where, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = query(where / ".modeleval/results.sqlite", "SELECT * FROM outcomes")
    return {row["item_id"]: row for row in rows}


def mmlu_tasks(data_dir: Path) -> dict:
    def mmlu(config):
        return {split: formats.mmlu_rows(data_dir / "mmlu", config.dataset_name, split) for split in ("test", "dev")}

    tasks = {}
    for subject in SUBJECTS:
        tasks.update(load_tasks(f"mmlu_{subject}", mmlu, 5))
    return tasks


def gsm8k_tasks(data_dir: Path) -> dict:
    def gsm8k(config):
        return {"test": formats.jsonl_rows(data_dir / "gsm8k" / "test.jsonl", ("question", "answer"))}

    return load_tasks("gsm8k_cot", gsm8k, None)


def check_mmlu(theirs: dict, ours: dict) -> None:
    """Each item's outcome in the native suite and the bridge is lm-eval's, and so is each subject's mean."""
    compared = 0
    for subject in SUBJECTS:
        for doc_id in range(MMLU_ITEMS):
            acc = theirs["samples"][f"mmlu_{subject}"][doc_id]["none"]["acc"]
            expected = "correct" if acc == 1.0 else "wrong"
            native = ours[f"mmlu-{subject}-{doc_id:04d}-p0"]
            bridge = ours[f"lm_mmlu-mmlu_{subject}-{doc_id:04d}-p0"]
            assert (native["outcome"], bridge["outcome"]) == (expected, expected), (subject, doc_id)
            assert json.loads(bridge["metrics"]) == {"acc,none": acc}
            compared += 1
    assert compared == len(SUBJECTS) * MMLU_ITEMS
    for subject in SUBJECTS:  # the aggregate: the same mean of the same per-item values
        mine = [ours[f"mmlu-{subject}-{d:04d}-p0"]["score"] for d in range(MMLU_ITEMS)]
        assert sum(mine) / len(mine) == pytest.approx(theirs["results"][f"mmlu_{subject}"]["acc,none"], abs=1e-12)


def check_gsm8k(theirs: dict, ours: dict) -> None:
    """Each item's greedy completion is lm-eval's text, with lm-eval's metrics under every filter."""
    for doc_id in range(GSM8K_ITEMS):
        logged = theirs["samples"]["gsm8k_cot"][doc_id]
        expected_metrics = {f"exact_match,{name}": logged[name]["exact_match"] for name in logged}
        expected_text = logged["strict-match"]["resps"][0][0]
        for item_id in (f"gsm8k_cot-{doc_id:04d}-p0", f"lm_gsm8k_cot-{doc_id:04d}-p0"):
            row = ours[item_id]
            assert row["response"] == expected_text, item_id
            assert json.loads(row["metrics"]) == expected_metrics, item_id
            strict = expected_metrics["exact_match,strict-match"]
            assert row["outcome"] == ("correct" if strict == 1.0 else "wrong"), item_id


def test_both_suites_match_lm_eval_item_by_item(tmp_path, data_dir):
    """MMLU and GSM8K together: one simple_evaluate over both benchmarks' tasks (one load of lm-eval's hf model)
    and one run of our suites covering both (one load of ours), as on vLLM below."""
    theirs = lm_eval_samples({**mmlu_tasks(data_dir), **gsm8k_tasks(data_dir)})
    ours = our_outcomes(tmp_path, data_dir, "mmlu or gsm8k_cot")
    check_mmlu(theirs, ours)
    check_gsm8k(theirs, ours)
    # The native GSM8K suite's requests are the bridge's exactly: it was served entirely from the cache.
    native_hits = query(tmp_path / ".modeleval/results.sqlite",
                        "SELECT SUM(cache_hits) AS hits, SUM(requests) AS n FROM outcomes WHERE suite = 'gsm8k_cot'")
    assert native_hits[0]["hits"] == native_hits[0]["n"] == GSM8K_ITEMS


@pytest.mark.xdist_group("vllm")
def test_on_vllm_both_suites_match_lm_eval_on_vllm_item_by_item(tmp_path, data_dir):
    """The same checks with both sides on vLLM: lm-eval's `vllm` model and ours, in float32 on the same
    threads (lm-eval's LLM is built with our engine's options, so only the harness differs)."""
    from lm_eval.models.vllm_causallms import VLLM

    options = embedded_vllm().options
    lm = VLLM(pretrained=options["model"], dtype="float32", enforce_eager=options["enforce_eager"],
              max_model_len=options["max_model_len"], kv_cache_memory_bytes=options.get("kv_cache_memory_bytes"),
              seed=0, batch_size="auto")
    try:
        theirs = lm_eval_samples({**mmlu_tasks(data_dir), **gsm8k_tasks(data_dir)}, model=lm)
    finally:
        lm.model.llm_engine.engine_core.shutdown(timeout=2)
    ours = our_outcomes(tmp_path, data_dir, "mmlu or gsm8k_cot", "--eval-engine=vllm", "--eval-dtype=float32")
    check_mmlu(theirs, ours)
    check_gsm8k(theirs, ours)
