"""MMLU (Hendrycks et al., 2021): 57 subjects of 4-way multiple choice, 5-shot from each subject's
dev split, scored by the loglikelihood of the answer letter. Prompts and scoring are those of
lm-eval's `mmlu` group (`acc`); the summary's accuracy is its size-weighted aggregate.
"""

import pytest_modeleval as modeleval
from pytest_modeleval.suites import sources

SHOTS = 5
LETTERS = "ABCD"


def question(row) -> str:
    """lm-eval's doc_to_text for MMLU."""
    lines = [row["question"].strip()] + [f"{letter}. {choice}" for letter, choice in zip(LETTERS, row["choices"])]
    return "\n".join(lines) + "\nAnswer:"


def prompt(item) -> str:
    """The subject's description, its first SHOTS dev questions answered, then the question."""
    subject = item["subject"]
    description = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    shots = [f"{question(row)} {LETTERS[row['answer']]}" for row in sources.mmlu_dev(subject)[:SHOTS]]
    return description + "\n\n".join([*shots, question(item)])


@modeleval.suite("mmlu", data=sources.mmlu_test, id_field="key",
                 request=modeleval.Choices(context=prompt, choices=[f" {letter}" for letter in LETTERS],
                                           answer="{answer}"))
def test_mmlu(item, choice):
    assert choice == item["answer"], f"chose {LETTERS[choice]}, answer {LETTERS[item['answer']]}"
