"""HumanEval (Chen et al., 2021): 164 Python functions to complete from their signature and
docstring, judged by running their unit tests in the sandbox (bubblewrap by default; see
docs/sandbox.md), 10 s per program.

- `humaneval`: greedy, pass@1, as lm-eval's `humaneval` task prompts and stops it;
- `humaneval_sampled`: SAMPLES completions per task at temperature 0.8 (each sample cached under
  its own index); records the unbiased pass@1 and pass@10 (the score is pass@1), and the item
  counts as right when any sample passes.
"""

import pytest_modeleval as modeleval
from pytest_modeleval.suites import sources
from pytest_modeleval.suites.humaneval import STOP, check, check_samples

SAMPLES = 10


@modeleval.suite("humaneval", data=sources.humaneval_test, id_field="task_id",
                 request=modeleval.Generate("{prompt}", max_tokens=1024, stop=STOP))
def test_humaneval(item, completion, sandbox):
    result = check(sandbox, item, completion)
    passed, why = result.passed, f"{result.outcome}: {result.message}"
    assert passed, why


@modeleval.suite("humaneval_sampled", data=sources.humaneval_test, id_field="task_id",
                 request=modeleval.Generate("{prompt}", max_tokens=1024, stop=STOP, temperature=0.8,
                                            samples=SAMPLES))
def test_humaneval_sampled(item, completion, sandbox, record_metric, record_score):
    results = check_samples(sandbox, item, completion, record_metric, record_score)
    passed = any(result.passed for result in results)
    assert passed, f"no sample of {SAMPLES} passed: " + ", ".join(sorted({result.outcome for result in results}))
