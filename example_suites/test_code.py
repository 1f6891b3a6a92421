"""A HumanEval-shaped suite on a small problem set written for this project: the model completes
each function SAMPLES times at temperature 0.8, every completion runs with the problem's tests in
the sandbox (10 s limit), and the unbiased pass@1 and pass@10 are recorded per problem.

The real HumanEval runs the same way: pytest --pyargs pytest_modeleval.suites.test_humaneval
(see docs/lm-eval.md), or point data= at HumanEval.jsonl.gz.
"""

import pytest_modeleval as modeleval
from pytest_modeleval.suites.humaneval import STOP, check_samples

SAMPLES = 10


@modeleval.suite("code", data="data/code_problems.jsonl", id_field="task_id",
                 request=modeleval.Generate("{prompt}", max_tokens=64, stop=STOP, temperature=0.8, samples=SAMPLES))
def test_code(item, completion, sandbox, record_metric, record_score):
    results = check_samples(sandbox, item, completion, record_metric, record_score)
    passed = any(result.passed for result in results)
    assert passed, "no sample passed: " + ", ".join(sorted({result.outcome for result in results}))
