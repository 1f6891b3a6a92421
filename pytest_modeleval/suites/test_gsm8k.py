"""GSM8K (Cobbe et al., 2021): grade-school math word problems, greedy generation, exact match on
the final number. Two suites:

- `gsm8k_cot`: 8-shot chain of thought with the fixed exemplars of Wei et al. (2022), exactly as
  lm-eval's `gsm8k_cot` task prompts and scores it (`exact_match,strict-match`: the number in
  "The answer is N."; `flexible-extract`, the last number in the answer, is recorded too);
- `gsm8k_chat`: zero-shot through the model's chat template, as lm-eval's `gsm8k_cot_zeroshot`
  with `--apply_chat_template`; a zero-shot model rarely uses the "The answer is N." form, so the
  last number in the answer (`flexible-extract`) decides, and `strict-match` is recorded.
"""

import re

import pytest_modeleval as modeleval
from pytest_modeleval.suites import sources

EXEMPLARS = [  # lm-eval's gsm8k-cot.yaml (from Wei et al., 2022, appendix G)
    ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
     "there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
     "been 21 - 15 = 6. The answer is 6."),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
     "they had 74 - 35 = 39. The answer is 39."),
    ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
     "Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
     "The answer is 8."),
    ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have "
     "now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. "
     "The answer is 9."),
    ("There were nine computers in the server room. Five more computers were installed each day, from monday to "
     "thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
     "computers were added. 9 + 20 is 29. The answer is 29."),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
     "balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, "
     "he had 35 - 2 = 33 golf balls. The answer is 33."),
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
     "left. 23 - 15 is 8. The answer is 8."),
]
STOP = ["Q:", "</s>", "<|im_end|>"]
STRICT = re.compile(r"The answer is (\-?[0-9\.\,]+).")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
IGNORED = [",", r"\$", "(?s).*#### ", r"\.$"]  # lm-eval's regexes_to_ignore, in order


def extract(pattern: re.Pattern, text: str, last: bool) -> str:
    """lm-eval's regex filter: the first (or last) match, its first non-empty group, stripped."""
    matches = pattern.findall(text)
    if not matches:
        return "[invalid]"
    match = matches[-1 if last else 0]
    if isinstance(match, tuple):
        match = next((group for group in match if group), "[invalid]")
    return match.strip()


def normalize(text: str) -> str:
    for pattern in IGNORED:
        text = re.sub(pattern, "", text)
    return text.lower()


def target(item) -> str:
    return item["answer"].split("####")[-1].strip()


def score(completion: str, item, record_metric) -> dict[str, bool]:
    """Both of lm-eval's filters, each recorded as exact_match,<filter>."""
    found = {"strict-match": extract(STRICT, completion, last=False),
             "flexible-extract": extract(FLEXIBLE, completion, last=True)}
    verdicts = {name: normalize(value) == normalize(target(item)) for name, value in found.items()}
    for name, right in verdicts.items():
        record_metric(f"exact_match,{name}", right)
    return {name: (right, found[name]) for name, right in verdicts.items()}


def few_shot(item) -> str:
    shots = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in EXEMPLARS)
    return f"{shots}Q: {item['question']}\nA:"


@modeleval.suite("gsm8k_cot", data=sources.gsm8k_test,
                 request=modeleval.Generate(few_shot, max_tokens=256, stop=STOP))
def test_gsm8k_cot(item, completion, record_metric):
    right, found = score(completion, item, record_metric)["strict-match"]
    assert right, f"answered {found!r}, expected {target(item)!r}"


@modeleval.suite("gsm8k_chat", data=sources.gsm8k_test, chat=True,
                 request=modeleval.Generate("Q: {question}\nA: Let's think step by step.", max_tokens=256, stop=STOP))
def test_gsm8k_chat(item, completion, record_metric):
    right, found = score(completion, item, record_metric)["flexible-extract"]
    assert right, f"answered {found!r}, expected {target(item)!r}"
