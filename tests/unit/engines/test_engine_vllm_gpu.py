"""The vLLM engine on a real GPU against the transformers engine on the same GPU.

Both engines tokenize prompts the same way and run the embedded model in bfloat16, so their
loglikelihoods may differ only by kernel noise and their greedy completions should mostly agree.
A pytest run with --eval-engine=vllm records vLLM in its run. Skipped where vLLM or CUDA is missing
(CI has neither); run it on a GPU machine with `pip install 'pytest-modeleval[vllm]'`.
"""

from __future__ import annotations

import sqlite3

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("compares the engines on a CUDA GPU (on the CPU: test_engine_protocol.py)", allow_module_level=True)
pytest.importorskip("vllm")

from pytest_modeleval.config import Settings
from pytest_modeleval.engines import hf
from pytest_modeleval.engines import vllm as vllm_engine
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.modelref import resolve

QUESTIONS = [
    ("The capital of France is", [" Paris", " Berlin", " Madrid", " Rome"]),
    ("Water boils at sea level at a temperature of", [" 100 degrees Celsius", " 50 degrees Celsius",
                                                      " 10 degrees Celsius", " 300 degrees Celsius"]),
    ("The largest planet in the solar system is", [" Jupiter", " Mars", " Venus", " Mercury"]),
    ("Question: What is 7 times 8?\nAnswer:", [" 56", " 54", " 64", " 48"]),
    ("The chemical symbol for gold is", [" Au", " Ag", " Gd", " Go"]),
    ("Shakespeare wrote the play", [" Hamlet", " The Odyssey", " Faust", " Don Quixote"]),
    ("The freezing point of water in Fahrenheit is", [" 32", " 0", " 100", " 212"]),
    ("A triangle has this many sides:", [" three", " four", " five", " six"]),
]
PROMPTS = ["What is the capital of Japan?", "Name three primary colours.", "What is 12 plus 30?",
           "Write one sentence about the sea.", "Who wrote Romeo and Juliet?", "What do bees make?",
           "Translate 'good morning' into French.", "How many days are in a leap year?",
           "What is the opposite of hot?", "Give a synonym for happy.", "What gas do plants take in?",
           "What is the square root of 81?", "Name a mammal that can fly.", "What colour is the sky on a clear day?",
           "How many legs does a spider have?", "What is the boiling point of water in Celsius?"]


@pytest.fixture(scope="module")
def engines():
    embedded = resolve("embedded")
    return hf.load(embedded, batch_size=16, device="cuda"), vllm_engine.load(embedded, Settings(engine="vllm"))


def test_loglikelihoods_match_the_transformers_engine(engines):
    ours_hf, ours_vllm = engines
    requests = [LoglikelihoodRequest(context, choice) for context, choices in QUESTIONS for choice in choices]
    a = [r.logprob for r in ours_hf.loglikelihood(requests)]
    b = [r.logprob for r in ours_vllm.loglikelihood(requests)]
    diffs = [abs(x - y) for x, y in zip(a, b)]
    picks_hf = [max(range(4), key=lambda k: a[4 * q + k]) for q in range(len(QUESTIONS))]
    picks_vllm = [max(range(4), key=lambda k: b[4 * q + k]) for q in range(len(QUESTIONS))]
    agree = sum(x == y for x, y in zip(picks_hf, picks_vllm))
    print(f"loglikelihood: {len(requests)} requests, |hf - vllm| mean {sum(diffs) / len(diffs):.4f} "
          f"max {max(diffs):.4f}; chosen answer agrees on {agree}/{len(QUESTIONS)}")
    assert sum(diffs) / len(diffs) < 0.1 and max(diffs) < 0.5
    assert agree >= len(QUESTIONS) - 1


def test_greedy_generation_agrees_with_the_transformers_engine(engines):
    ours_hf, ours_vllm = engines
    requests = [GenerateRequest(ours_hf.render(p, chat=True), max_tokens=32) for p in PROMPTS]
    a = ours_hf.generate(requests)
    b = ours_vllm.generate(requests)
    same = sum(x.strip() == y.strip() for x, y in zip(a, b))
    print(f"greedy generation: {same}/{len(requests)} completions identical")
    for x, y in zip(a, b):
        print(f"  hf  : {x[:70]!r}\n  vllm: {y[:70]!r}")
    assert all(y.strip() for y in b)
    assert same >= len(requests) * 3 // 4, "bfloat16 kernels may split a few near-ties, not most completions"


def test_sampled_generation_is_reproducible_per_seed(engines):
    _, ours_vllm = engines
    prompt = ours_vllm.render("Tell me a short story about a cat.", chat=True)
    requests = [GenerateRequest(prompt, max_tokens=24, temperature=1.0, seed=s) for s in (1, 2, 1)]
    first, second, again = ours_vllm.generate(requests)
    assert first == again and first != second


def test_a_pytest_run_on_vllm_records_the_engine(pytester, engines):
    pytester.makepyfile(test_suite="""
        import pytest_modeleval as modeleval

        @modeleval.suite("capitals", data=[{"q": "France", "a": "Paris"}, {"q": "Italy", "a": "Rome"}],
                         request=modeleval.Generate("What is the capital of {q}? One word.", max_tokens=8),
                         chat=True)
        def test_capitals(item, completion):
            assert completion.strip()

        @modeleval.suite("choice", data=[{"q": "The capital of France is", "choices": [" Paris", " Oslo"], "answer": 0}],
                         request=modeleval.Choices("{q}", lambda item: item["choices"]))
        def test_choice(item, loglikelihoods):
            assert len(loglikelihoods) == 2
        """)
    result = pytester.runpytest_inprocess("--model=embedded", "--eval-engine=vllm", "--eval-db=results.sqlite",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    with sqlite3.connect(pytester.path / "results.sqlite") as db:
        engine, device, dtype = db.execute("SELECT engine, engine_device, engine_dtype FROM runs").fetchone()
        outcomes = db.execute("SELECT count(*) FROM outcomes WHERE outcome = 'correct'").fetchone()[0]
    assert (engine, device, dtype) == ("vllm", "cuda", "bfloat16") and outcomes == 3
