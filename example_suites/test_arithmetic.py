"""A GSM8K-shaped generation suite: a word problem in, exact match on the final number.

The request is declared on the suite, so every item's prompt is generated in one batched
run before the tests read their `completion`. Each item also runs as 3 numeric variants
(new numbers, the answer recomputed from its <<a*b=c>> chain), and the run reports the
contamination score: the drop from the canonical items to their variants (docs/perturbation.md), and beside
it each item's membership score (Min-K%, and Min-K%++ on the transformers engine) calibrated against its own
variants: the audit's per-item evidence table (docs/contamination.md). Point `data=` at the real GSM8K test file (JSONL with `question` and `answer`, the answer
ending in `#### N`) to run the benchmark itself; see docs/writing-suites.md.
"""

import re

import pytest_modeleval as modeleval
from pytest_modeleval.perturb.numeric import NumericGSM8K

PROMPT = "{question}\nAnswer with just the final number."
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_number(text: str) -> str | None:
    """The last number in a text (after '####' when present), without thousands separators."""
    text = text.split("####")[-1]
    found = NUMBER.findall(text)
    if not found:
        return None
    value = found[-1].replace(",", "")
    return value[:-2] if value.endswith(".0") else value


@modeleval.suite("arithmetic", data="data/arithmetic.jsonl", chat=True,
                 perturbations=3, perturb=modeleval.Perturb([NumericGSM8K()], window="reasoning"),
                 membership=modeleval.Membership(),
                 request=modeleval.Generate(PROMPT, max_tokens=48, stop="\n"))
def test_arithmetic(item, completion):
    assert final_number(completion) == final_number(item["answer"])
