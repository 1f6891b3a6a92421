"""An MMLU-shaped multiple-choice suite scored by loglikelihood.

The data has MMLU's CSV columns (question, choice0..choice3, answer index). Each choice is
scored as a continuation of the question (cloze style, lm-eval's `acc`: the summed
log-probability of the choice text); the most likely choice is the model's answer.
"""

import pytest_modeleval as modeleval


def choices(item):
    return [" " + item[f"choice{i}"] for i in range(4)]


@modeleval.suite("facts_mc", data="data/facts_mc.csv",
                 request=modeleval.Choices("Question: {question}\nAnswer:", choices))
def test_facts_mc(item, choice):
    assert choice == int(item["answer"])
