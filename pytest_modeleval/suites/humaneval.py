"""Running HumanEval-format completions in the sandbox, shared by the ready suite and user suites.

A HumanEval row has `prompt` (signature and docstring), `test` (a `check(candidate)` function)
and `entry_point`; the program is prompt + completion, the tests call `check(entry_point)`.
"""

from __future__ import annotations

STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]  # lm-eval's / the Codex paper's stop sequences


class SandboxFailure(RuntimeError):
    """The isolation itself failed: an infrastructure error for the run, never a wrong answer."""


def check(sandbox, item, completion: str, timeout: float = 10.0):
    """Run one completion against the item's tests; the SandboxResult (outcome passed, failed, ...)."""
    program, tests, limits = _job(item, completion, timeout)
    return _checked(item, sandbox.run(program, tests, **limits))


def _job(item, completion: str, timeout: float) -> tuple[str, str, dict]:
    return item["prompt"] + completion, f"{item['test']}\ncheck({item['entry_point']})\n", {"timeout": timeout}


def _checked(item, result):
    if result.outcome == "sandbox_error":
        raise SandboxFailure(f"{item['entry_point']}: the sandbox failed: {result.message}")
    return result


def check_samples(sandbox, item, completions: list[str], record_metric, record_score, ks=(1, 10),
                  timeout: float = 10.0) -> list:
    """Every sample's result; records pass@k (unbiased, per k <= samples) and the score pass@1."""
    from ..stats import pass_at_k

    # all at once: with --eval-sandbox-workers they run in parallel as Ray tasks
    results = [_checked(item, r) for r in sandbox.run_many([_job(item, c, timeout) for c in completions])]
    passed = sum(result.passed for result in results)
    for k in ks:
        if k <= len(completions):
            record_metric(f"pass@{k}", pass_at_k(len(completions), passed, k))
    record_score(pass_at_k(len(completions), passed, 1))
    return results
