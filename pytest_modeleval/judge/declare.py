"""Judged suites: declarations whose items are answered by the model, then judged, all in batches.

    @modeleval.suite("helpfulness", data="prompts.jsonl", chat=True,
                     request=modeleval.Pairwise("{prompt}", reference="{reference}"))
    def test_helpfulness(item, judgment):
        assert judgment.outcome != "loss"

Round 1 generates every candidate answer (and the production checkpoint's answers it lacks);
round 2 asks the judge about every item at once; later rounds retry only the verdicts the
judge wrote unreadably, sampling (temperature RETRY_TEMPERATURE, a new seed per attempt) since
a greedy retry would repeat itself. A pairwise verdict asked `judge_samples` times (stability.py)
asks its K calls in the same rounds. The judge's requests carry the template hash in their
cache key, so a rerun pays for nothing already judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engines.base import GenerateRequest
from ..runtime.declare import Ask, Template, fill
from . import stability, templates
from .judgment import Judgment
from .rejudge import baseline_record, to_rejudge
from .verdict import VerdictError, parse_pairwise, parse_rating

PRODUCTION = "production"  # reference=: the production checkpoint's answers to the same prompts
RETRY_TEMPERATURE = stability.SAMPLE_TEMPERATURE


@dataclass(frozen=True)
class Pairwise:
    """The candidate's answer against a reference answer, judged head to head.

    `reference`: a template over the item's fields (a reference column, or a file joined into
    the data), or "production" for the production checkpoint's answers to the same prompts
    (read from the results DB, generated with that checkpoint when missing). `question`: what
    the judge is shown as the question (default: the prompt). `both_orders` judges each item
    twice, swapped, and counts a disagreement as a tie. `judge_samples=K` asks each verdict K
    times (alternating orders with `both_orders`, sampled repetitions with seeds of their own:
    stability.py); K verdicts that disagree count by `judge_flips` ("tie" or "majority"), and the
    summary flags a judge whose share of such items exceeds `judge_max_flip_rate`. `rubric` replaces
    the default criteria. `reasoning=False` asks for the verdict alone (for small judges).
    """

    prompt: Template
    reference: Template = PRODUCTION
    question: Template | None = None
    rubric: str | None = None
    both_orders: bool = False
    reasoning: bool = True
    max_tokens: int = 256
    judge_max_tokens: int = 512
    retries: int = 2
    judge_samples: int | None = None  # K verdicts per item; None: 2 with both_orders, else 1
    judge_flips: stability.FlipRule = "tie"
    judge_max_flip_rate: float = stability.DEFAULT_MAX_FLIP_RATE
    needs_judge = True

    def __post_init__(self):
        _check_common(self, "Pairwise")
        stability.check("Pairwise", self.judge_samples, self.both_orders, self.judge_flips,
                        self.judge_max_flip_rate)
        self.template()  # a bad rubric fails at import, not per item

    def template(self) -> templates.JudgeTemplate:
        return templates.pairwise(self.rubric, reasoning=self.reasoning)

    def steps(self, item, ctx):
        prompt = fill(self.prompt, item)
        rendered = ctx.render(prompt)
        asks = [Ask(rendered, GenerateRequest(rendered, max_tokens=self.max_tokens, seed=ctx.seed))]
        reference = None
        if self.reference == PRODUCTION:
            stored = ctx.provided.get("production_answer")  # the judge feature's (judge/feature.py planning)
            reference = stored(ctx.suite, item) if stored is not None else None
            if reference is None:
                text = ctx.render(prompt, "reference")
                asks.append(Ask(text, GenerateRequest(text, max_tokens=self.max_tokens, seed=ctx.seed),
                                target="reference"))
        else:
            reference = str(fill(self.reference, item))
        answers = yield asks
        candidate = answers[0]
        if reference is None:
            reference = answers[1]
        question = question_text(fill(self.question, item) if self.question is not None else prompt)
        first = "A" if ctx.rng(item).random() < 0.5 else "B"
        template = self.template()
        judgment = yield from judge_pair(ctx, template, question, candidate, reference, first,
                                         self.both_orders, self.retries, self.judge_max_tokens,
                                         baseline=baseline_of(ctx, item, "pairwise", template),
                                         samples=self.judge_samples, flips=self.judge_flips,
                                         max_flip_rate=self.judge_max_flip_rate)
        return judgment


@dataclass(frozen=True)
class Graded:
    """The candidate's answer rated alone on a 1..scale rubric (for suites without a reference)."""

    prompt: Template
    question: Template | None = None
    rubric: str | None = None
    scale: int = 10
    reasoning: bool = True
    max_tokens: int = 256
    judge_max_tokens: int = 512
    retries: int = 2
    needs_judge = True

    def __post_init__(self):
        _check_common(self, "Graded")
        self.template()

    def template(self) -> templates.JudgeTemplate:
        return templates.rating(self.rubric, scale=self.scale, reasoning=self.reasoning)

    def steps(self, item, ctx):
        prompt = fill(self.prompt, item)
        rendered = ctx.render(prompt)
        (candidate,) = yield [Ask(rendered, GenerateRequest(rendered, max_tokens=self.max_tokens, seed=ctx.seed))]
        question = question_text(fill(self.question, item) if self.question is not None else prompt)
        template = self.template()
        judgment = yield from judge_rating(ctx, template, question, candidate, self.retries,
                                           self.judge_max_tokens, baseline=baseline_of(ctx, item, "rating", template))
        return judgment


JUDGED = (Pairwise, Graded)


def baseline_of(ctx, item, kind: str, template) -> dict | None:
    """The baseline's judgment of this item to judge again (rejudge.to_rejudge), when the run's judge feature
    provides the baseline's judgments to planning (judge/feature.py `planning`); None in a context without them."""
    if "baseline_judgment" not in ctx.provided:
        return None
    return to_rejudge(ctx, item, kind, template)


def judge_pair(ctx, template, question: str, candidate: str, reference: str, first: str, both_orders: bool,
               retries: int, max_tokens: int, baseline: dict | None = None, samples: int | None = None,
               flips: stability.FlipRule = "tie", max_flip_rate: float = stability.DEFAULT_MAX_FLIP_RATE):
    """Steps that judge one pair (in one order, or both; K times with `samples`) and return the
    candidate's Judgment, its K verdicts settled by the rule `flips` (stability.settle).

    `baseline`: the baseline run's stored judgment of the same item by another judge
    (rejudge.to_rejudge); its question and answers are judged in the same rounds, with the same
    order draw and the same K calls, and the result is kept on the Judgment as `rejudged_baseline`.
    """
    calls = stability.judge_calls(first, stability.verdict_count(samples, both_orders), both_orders)
    slots = [slot for slot, _ in calls]

    def pair(question: str, candidate: str, reference: str) -> Judgment:
        return Judgment("pairwise", ctx.judge_hash, template.sha256, question, candidate, reference,
                        candidate_slots=slots, flip_rule=flips, max_flip_rate=max_flip_rate)

    judgment = pair(question, candidate, reference)
    judgments = [judgment]
    if baseline is not None:
        judgments.append(pair(baseline["question"], baseline["candidate"], baseline["reference"]))
    groups = [[_pair_prompt(ctx, template, j, slot) for slot in slots] for j in judgments]
    repeats = [[repeat for _, repeat in calls] for _ in judgments]
    results = yield from ask_groups(ctx, template, groups, retries, max_tokens, parse_pairwise, repeats=repeats)
    for j, (verdicts, outputs, attempts, error) in zip(judgments, results):
        j.slot_verdicts, j.outputs, j.attempts, j.error = verdicts, outputs, attempts, error
        if error is None:
            j.outcome = stability.settle(j.outcomes, flips)
            j.flips = stability.flip_count(j.outcomes)
    if baseline is not None:
        judgment.rejudged_baseline = baseline_record(judgments[1], baseline)
    return judgment


def _pair_prompt(ctx, template, judgment: Judgment, slot: str) -> str:
    a, b = ((judgment.candidate, judgment.reference) if slot == "A" else (judgment.reference, judgment.candidate))
    return ctx.render(template.messages(question=judgment.question, answer_a=a, answer_b=b), "judge") + template.prefix


def judge_rating(ctx, template, question: str, candidate: str, retries: int, max_tokens: int,
                 baseline: dict | None = None):
    """Steps that rate one answer (and the baseline's stored answer, as judge_pair) and return its Judgment."""
    judgments = [Judgment("rating", ctx.judge_hash, template.sha256, question, candidate, scale=template.scale)]
    if baseline is not None:
        judgments.append(Judgment("rating", ctx.judge_hash, template.sha256, baseline["question"],
                                  baseline["candidate"], scale=template.scale))
    groups = [[ctx.render(template.messages(question=j.question, answer=j.candidate), "judge") + template.prefix]
              for j in judgments]
    results = yield from ask_groups(ctx, template, groups, retries, max_tokens,
                                    lambda text: parse_rating(text, template.scale))
    for j, (ratings, outputs, attempts, error) in zip(judgments, results):
        j.outputs, j.attempts, j.error = outputs, attempts, error
        if error is None:
            j.rating = ratings[0]
    if baseline is not None:
        judgments[0].rejudged_baseline = baseline_record(judgments[1], baseline)
    return judgments[0]


def ask_until_read(ctx, template, prompts: list[str], retries: int, max_tokens: int, parse):
    """Ask the judge each prompt; re-ask (sampled) those it answered unreadably, at most `retries` times."""
    (result,) = yield from ask_groups(ctx, template, [prompts], retries, max_tokens, parse)
    return result


def ask_groups(ctx, template, groups: list[list[str]], retries: int, max_tokens: int, parse,
               repeats: list[list[int]] | None = None):
    """ask_until_read for several groups of prompts at once (one batched call per round), each group read
    apart: per group (read, outputs, attempts, error), attempts counting the rounds its prompts needed.

    `repeats` (shaped as `groups`): each prompt's repetition (stability.py). Repetition 0 is greedy at its
    first attempt; a later one samples from the start, with a sample index and seed of its own."""
    prompts = [prompt for group in groups for prompt in group]
    owner = [g for g, group in enumerate(groups) for _ in group]
    repeat = [r for group in (repeats or []) for r in group] or [0] * len(prompts)
    read: list = [None] * len(prompts)
    outputs = [""] * len(prompts)
    problems: dict[int, str] = {}
    rounds = [0] * len(groups)
    pending = list(range(len(prompts)))
    for attempt in range(retries + 1):
        asks = [_judge_ask(ctx, template, prompts[i], stability.sample_index(repeat[i], attempt, retries),
                           max_tokens) for i in pending]
        texts = yield asks
        still = []
        for i, text in zip(pending, texts):
            rounds[owner[i]] = attempt + 1
            outputs[i] = text
            try:
                read[i] = parse(template.prefix + text)
                problems.pop(i, None)
            except VerdictError as exc:
                problems[i] = str(exc)
                still.append(i)
        pending = still
        if not pending:
            break
    results, start = [], 0
    for g, group in enumerate(groups):
        mine = range(start, start + len(group))
        start += len(group)
        errors = [problems[i] for i in mine if i in problems]
        error = (f"no readable verdict after {rounds[g]} judge call(s): " + "; ".join(errors)) if errors else None
        results.append(([read[i] for i in mine], [outputs[i] for i in mine], rounds[g], error))
    return results


def _judge_ask(ctx, template, prompt: str, sample: int, max_tokens: int) -> Ask:
    """One judge call: greedy for sample 0, else sampled with seed and cache index `sample`."""
    temperature = 0.0 if sample == 0 else RETRY_TEMPERATURE
    return Ask(prompt, GenerateRequest(prompt, max_tokens=max_tokens, temperature=temperature,
                                       seed=ctx.seed + sample, tag=template.sha256), sample=sample, target="judge")


def question_text(question: Any) -> str:
    """What the judge is shown as the question: a string, or the last user turn of chat messages."""
    if isinstance(question, str):
        return question
    if isinstance(question, (list, tuple)):
        users = [m.get("content", "") for m in question if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1])
    raise TypeError(f"a judged prompt must be text or chat messages with a user turn, got {question!r:.80}")


def _check_common(declaration, name: str) -> None:
    if not isinstance(declaration.retries, int) or declaration.retries < 0:
        raise ValueError(f"{name}: retries must be a whole number >= 0, got {declaration.retries!r}")
    for field_name in ("max_tokens", "judge_max_tokens"):
        value = getattr(declaration, field_name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {field_name} must be a whole number >= 1, got {value!r}")
