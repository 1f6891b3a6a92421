"""LLM-judge head to head: the model's answers against reference answers, judged by the --judge model.

Each item's answer is generated in one batch, then the judge compares every answer with its
reference in another batch, the candidate placed first or second by a seeded draw per item.
The win rate (ties count half) feeds the `win-rate` gate, but only once the judge has been
validated against human labels (`modeleval judge validate`); until then the summary says the
judge is unvalidated and the gate does not count it. Use reference="production" to compare with
the production checkpoint's answers instead of a reference column. See docs/judge.md.

The embedded 135M model is a weak judge: it is asked for the verdict alone (reasoning=False).
A real judge should reason first (the default).
"""

import pytest_modeleval as modeleval


@modeleval.suite("helpfulness", data="data/helpfulness.jsonl", id_field="id", chat=True,
                 request=modeleval.Pairwise("{prompt}", reference="{reference}", reasoning=False,
                                            max_tokens=64, judge_max_tokens=8))
def test_helpfulness(item, judgment):
    assert judgment.outcome != "loss", "the judge preferred the reference answer"
