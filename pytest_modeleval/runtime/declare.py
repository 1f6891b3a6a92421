"""Declared requests: what a suite asks of the model for each item, known before any test runs.

Declaring lets the planner gather every item's requests after collection and run them
in large batches; the test then only reads its result. Templates are `str.format`
strings over the item's fields, or callables taking the item.

A one-round declaration has two methods the planner calls: `plan(item, render, seed)`
lists the engine requests for one item as `Ask`s, and `value(predictions)` turns their
answers (in the same order) into what the test receives. A declaration that needs several
rounds (a judge reading the model's answers) has `steps(item, ctx)` instead: see planner.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence, Union

from ..engines.base import GenerateRequest, LoglikelihoodRequest

Template = Union[str, Callable[[Any], Any]]
Render = Callable[[Any], str]  # a prompt (text or messages) -> the exact text the model sees


class Ask(NamedTuple):
    """One engine request of one item; `sample` tells repeated draws of the same prompt apart."""

    prompt: str  # as logged in the outcome row
    request: object  # GenerateRequest, LoglikelihoodRequest or RollingRequest
    sample: int = 0
    target: str = "model"  # whose engine answers: "model" (under evaluation), "judge" or "reference"


def fill(template: Template, item) -> Any:
    """A template applied to an item: format-string over its fields, or a callable's result."""
    if callable(template):
        return template(item)
    try:
        return template.format_map(item.fields)
    except KeyError as exc:
        raise KeyError(f"template {template!r} names field {exc.args[0]!r}, which item {item.id} lacks; "
                       f"available fields: {', '.join(item.fields)}") from None


@dataclass(frozen=True)
class Generate:
    """Generate a completion per item (`samples` > 1 draws that many sampled completions).

    The test receives `completion`: the text, or a list of texts when samples > 1.
    """

    prompt: Template
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: Sequence[str] | str = ()
    samples: int = 1
    seed: int | None = None  # None takes --eval-seed

    def __post_init__(self):
        if self.samples < 1:
            raise ValueError(f"Generate: samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.temperature == 0.0:
            raise ValueError("Generate: samples > 1 needs temperature > 0 (greedy samples would be identical)")
        if self.max_tokens < 1:
            raise ValueError(f"Generate: max_tokens must be >= 1, got {self.max_tokens}")

    @property
    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def plan(self, item, render: Render, seed: int) -> list[Ask]:
        """One request per sample: sample i draws with seed + i and is cached under index i.

        In a suite with samples=K each test is one sample of its item (`item.sample`, the `-sK` of its id), so
        it asks for that sample alone, with the same seed and cache index as Generate(samples=K) would use.
        """
        prompt = render(fill(self.prompt, item))
        seed = seed if self.seed is None else self.seed
        drawn = getattr(item, "sample", None)
        indices = range(self.samples) if drawn is None else (drawn,)
        return [Ask(prompt, GenerateRequest(prompt, max_tokens=self.max_tokens, temperature=float(self.temperature),
                                            top_p=self.top_p, stop=self.stops, seed=seed + i), i)
                for i in indices]

    def value(self, values: list) -> Any:
        return values[0] if self.samples == 1 else values


@dataclass(frozen=True)
class Choices:
    """Score each choice as a continuation of the context (lm-eval's multiple-choice shape).

    The test receives `loglikelihoods` (one per choice) and `choice` (the index of the most
    likely one: lm-eval's `acc`). With `answer` (a template giving the right choice's index, or
    its text), each item also records `p_correct`: the softmax of the raw loglikelihoods, the
    normalisation `choice` uses, read at the right choice.
    """

    context: Template
    choices: Template | Sequence[Template]
    answer: Template | None = None

    def continuations(self, item) -> list[str]:
        if callable(self.choices) or isinstance(self.choices, str):
            values = fill(self.choices, item)
            return [values] if isinstance(values, str) else list(values)
        return [fill(choice, item) for choice in self.choices]

    def plan(self, item, render: Render, seed: int) -> list[Ask]:
        context = fill(self.context, item)
        return [Ask(context + c, LoglikelihoodRequest(context, c)) for c in self.continuations(item)]

    def value(self, values: list) -> Any:
        return values

    def gold(self, item) -> int:
        """The index of the right choice: `answer` filled for the item, as an index or a choice's text."""
        if self.answer is None:
            raise ValueError("Choices(...) without answer= has no right choice to score against")
        value = fill(self.answer, item)
        choices = self.continuations(item)
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                value = int(text)
            else:
                matches = [i for i, c in enumerate(choices) if c == value] or \
                          [i for i, c in enumerate(choices) if c.strip() == text]
                if len(matches) != 1:
                    raise ValueError(f"Choices answer: item {item.id}: {value!r} is not the index or the text of "
                                     f"one choice (choices: {', '.join(repr(c) for c in choices)})")
                value = matches[0]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(choices):
            raise ValueError(f"Choices answer: item {item.id}: {value!r} is not a choice index "
                             f"(0 to {len(choices) - 1})")
        return value

    def p_correct(self, item, loglikelihoods: list) -> float:
        """The probability the model's choice distribution puts on the right choice (raw loglikelihoods)."""
        from ..stats.pcorrect import p_correct

        return p_correct([ll.logprob for ll in loglikelihoods], self.gold(item))
