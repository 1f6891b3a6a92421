"""pytest-modeleval: model evaluation as a pytest suite.

    import pytest_modeleval as modeleval

    @modeleval.suite("gsm8k", data="data/gsm8k.jsonl", sample=200, seed=42, chat=True)
    def test_gsm8k(item, model):
        assert final_number(model.generate(item["question"])) == final_number(item["answer"])
"""

from .judge.declare import Graded, Pairwise
from .judge.references import reference_file
from .perturb.library import Perturb
from .perturb.membership import Membership
from .redteam.declare import Refusal
from .redteam.library import library_rows
from .runtime.declare import Choices, Generate
from .suite import suite
from .suites.lmeval import lm_eval_suite

__all__ = ["Choices", "Generate", "Graded", "Pairwise", "library_rows", "lm_eval_suite", "Membership", "Perturb", "reference_file", "Refusal", "suite"]
