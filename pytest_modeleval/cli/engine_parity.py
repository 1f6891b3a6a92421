"""Two runs of the same items on two engine configurations, compared item by item (`modeleval parity`).

Everything comes from the outcome rows: a Generate call is logged with its text, a Choices call with
its `[logprob, is_greedy]` (the call log of runtime/handle.py), each beside its exact prompt. So a
call is compared only where both runs sent the identical prompt, and the accuracies are paired on
the items both runs answered (McNemar's exact test, the gates' test for right/wrong items).

A Choices prompt is context + continuation; the row keeps only their concatenation. The context is
recovered as the choices' common prefix cut back to its last whitespace (the continuations of a
suite start at a word), and the continuation's tokens are the prompt's tokens minus the context's:
|Δ logprob| per token divides by that count (at least 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os.path import commonprefix
from typing import Callable, Iterable

ANSWERED = ("correct", "wrong")
ALPHA = 0.05
TokenCount = Callable[[str], int]  # text -> its number of tokens


@dataclass
class Calls:
    """One item's logged calls: (prompt, text) generations and (prompt, logprob) loglikelihoods."""

    generations: list[tuple[str, str]] = field(default_factory=list)
    loglikelihoods: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Parity:
    """The comparison of run b against run a over one suite (or all of them: suite "all")."""

    suite: str
    n: int = 0  # items both runs answered (right or wrong)
    right_a: int = 0
    right_b: int = 0
    p_value: float = 1.0  # McNemar exact, on the n paired items
    generations: int = 0  # generation calls with the same prompt in both runs
    identical: int = 0  # ... whose texts are identical
    loglikelihoods: int = 0  # loglikelihood calls with the same prompt in both runs
    max_delta: float | None = None  # max |Δ logprob| per continuation token
    mean_delta: float | None = None  # mean over those calls of |Δ logprob| per continuation token
    prompts_differ: int = 0  # calls not compared: the two runs sent different prompts (or call counts)

    @property
    def accuracy_a(self) -> float | None:
        return self.right_a / self.n if self.n else None

    @property
    def accuracy_b(self) -> float | None:
        return self.right_b / self.n if self.n else None

    @property
    def difference(self) -> float | None:
        """Accuracy of b minus a, on the paired items."""
        return (self.right_b - self.right_a) / self.n if self.n else None

    @property
    def agreement(self) -> float | None:
        """The share of greedy generations that are identical."""
        return self.identical / self.generations if self.generations else None

    @property
    def significant(self) -> bool:
        return self.n > 0 and self.p_value < ALPHA


def calls(row: dict) -> Calls:
    """The calls an outcome row logged (see `CallLog.as_record`: one call is stored bare, several as JSON lists)."""
    out = Calls()
    if row.get("prompt") is None or row.get("response") is None:
        return out
    prompts = _json_list(row["prompt"], lambda v: all(isinstance(p, str) for p in v))
    if prompts is None:  # one call
        prompts, answers = [row["prompt"]], [_single_answer(row["response"])]
    else:
        answers = json.loads(row["response"])
        if not isinstance(answers, list) or len(answers) != len(prompts):
            return out
    for prompt, answer in zip(prompts, answers):
        if isinstance(answer, str):
            out.generations.append((prompt, answer))
        elif _is_loglikelihood(answer):
            out.loglikelihoods.append((prompt, float(answer[0])))
    return out


def continuation_tokens(prompts: list[str], count: TokenCount | None) -> dict[str, int]:
    """prompt -> the tokens of its continuation (1 each without a tokenizer: then Δ is per request)."""
    if count is None or not prompts:
        return {p: 1 for p in prompts}
    prefix = commonprefix(prompts) if len(prompts) > 1 else ""
    cut = max((i for i, ch in enumerate(prefix) if ch.isspace()), default=len(prefix))
    context = prefix[:cut]
    base = count(context) if context else 0
    return {p: max(1, count(p) - base) for p in prompts}


def compare(rows_a: Iterable[dict], rows_b: Iterable[dict], count: TokenCount | None = None) -> list[Parity]:
    """One Parity per suite in both runs, then the overall one (suite "all"), from their outcome rows."""
    from ..stats import mcnemar_exact

    by_key_a = {_key(r): r for r in rows_a}
    by_key_b = {_key(r): r for r in rows_b}
    suites = sorted({k[0] for k in by_key_a} & {k[0] for k in by_key_b})
    results = {suite: Parity(suite) for suite in suites}
    overall = Parity("all")
    deltas: dict[str, list[float]] = {suite: [] for suite in suites}
    paired: dict[str, tuple[list[bool], list[bool]]] = {suite: ([], []) for suite in suites}
    for key in sorted(by_key_a.keys() & by_key_b.keys(), key=str):
        a, b, result = by_key_a[key], by_key_b[key], results[key[0]]
        if a["outcome"] in ANSWERED and b["outcome"] in ANSWERED:
            paired[key[0]][0].append(a["outcome"] == "correct")
            paired[key[0]][1].append(b["outcome"] == "correct")
        _compare_calls(calls(a), calls(b), result, deltas[key[0]], count)
    all_a, all_b, all_deltas = [], [], []
    for suite, result in results.items():
        a_right, b_right = paired[suite]
        _accuracy(result, a_right, b_right, mcnemar_exact)
        _deltas(result, deltas[suite])
        all_a += a_right
        all_b += b_right
        all_deltas += deltas[suite]
        for name in ("generations", "identical", "loglikelihoods", "prompts_differ"):
            setattr(overall, name, getattr(overall, name) + getattr(result, name))
    _accuracy(overall, all_a, all_b, mcnemar_exact)
    _deltas(overall, all_deltas)
    return [*results.values(), overall]


def _compare_calls(a: Calls, b: Calls, result: Parity, deltas: list[float], count: TokenCount | None) -> None:
    for (prompt_a, text_a), (prompt_b, text_b) in _pairs(a.generations, b.generations, result):
        result.generations += 1
        result.identical += text_a == text_b
    pairs = _pairs(a.loglikelihoods, b.loglikelihoods, result)
    tokens = continuation_tokens([p for p, _ in a.loglikelihoods], count)
    for (prompt, lp_a), (_, lp_b) in pairs:
        result.loglikelihoods += 1
        deltas.append(abs(lp_a - lp_b) / tokens[prompt])


def _pairs(a: list, b: list, result: Parity) -> list:
    """The calls of one kind sent with the same prompt, in call order; the rest counted as not compared."""
    if len(a) != len(b):
        result.prompts_differ += max(len(a), len(b))
        return []
    same = [(x, y) for x, y in zip(a, b) if x[0] == y[0]]
    result.prompts_differ += len(a) - len(same)
    return same


def _accuracy(result: Parity, a_right: list[bool], b_right: list[bool], test) -> None:
    result.n, result.right_a, result.right_b = len(a_right), sum(a_right), sum(b_right)
    result.p_value = test(a_right, b_right).p_value if a_right else 1.0


def _deltas(result: Parity, deltas: list[float]) -> None:
    if deltas:
        result.max_delta, result.mean_delta = max(deltas), sum(deltas) / len(deltas)


def _key(row: dict) -> tuple:
    return row["suite"], row["item_id"], row.get("variant") or 0


def _json_list(text: str, ok: Callable[[list], bool]) -> list | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) and ok(value) else None


def _single_answer(text: str):
    """A lone call's answer: a loglikelihood stored as JSON `[logprob, is_greedy]`, else a generation's text."""
    value = _json_list(text, _is_loglikelihood)
    return value if value is not None else text


def _is_loglikelihood(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (int, float))
            and not isinstance(value[0], bool) and isinstance(value[1], bool))
