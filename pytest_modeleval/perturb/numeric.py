"""GSM8K problems re-instantiated with new numbers (GSM-Symbolic style), answers recomputed.

The question numbers that feed the solution's annotation chain get new values of the same kind
(whole numbers stay whole, decimals keep their places, round numbers stay round, 0.5x to 2x);
the chain is replayed and a draw is kept only when every step keeps its shape (a whole count
stays whole, a non-negative amount stays non-negative). Values that might be a constant the
wording implies (2 with 'half', 60 with 'hour'), or that appear in a form we do not rewrite
(1/2, 3:30), are held fixed: holding a value can never make an answer wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from . import numerals
from .chain import ANNOTATION, Chain, read_chain, replay, write_solution
from .variant import GeneratorError, Variant, check_request, item_rng, text_field

ATTEMPTS_PER_VARIANT = 60
MIN_ATTEMPTS = 200
MIN_CHOICES = 4
_WORD_CONSTANTS = {
    "half": (2,), "halves": (2,), "twice": (2,), "double": (2,), "pair": (2,), "both": (2,), "couple": (2,),
    "doubled": (2,), "triple": (3,), "tripled": (3,), "thrice": (3,), "third": (3,), "quarter": (4,),
    "fourth": (4,), "dozen": (12,), "percent": (100,), "percentage": (100,), "cent": (100,), "century": (100,),
    "centuries": (100,), "decade": (10,),
    "second": (60,), "minute": (60,), "hour": (60, 24), "day": (24, 7, 30, 365), "daily": (7, 30, 365),
    "week": (7, 52), "month": (12, 30, 4), "year": (12, 52, 365), "annual": (12, 52, 365),
    "foot": (12,), "feet": (12,), "inch": (12,), "yard": (3, 36), "mile": (5280,), "pound": (16,),
    "ounce": (16,), "gallon": (4, 128), "quart": (4, 2), "pint": (2,), "ton": (2000, 1000),
    "kilo": (1000,), "kilogram": (1000,), "kilometer": (1000,), "gram": (1000,), "liter": (1000,),
    "litre": (1000,), "meter": (100, 1000), "metre": (100, 1000), "centimeter": (100,), "millimeter": (1000,),
    "one": (1,), "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,), "seven": (7,),
    "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,), "twelve": (12,), "thirteen": (13,),
    "fourteen": (14,), "fifteen": (15,), "sixteen": (16,), "seventeen": (17,), "eighteen": (18,),
    "nineteen": (19,), "twenty": (20,), "thirty": (30,), "forty": (40,), "fifty": (50,), "sixty": (60,),
    "seventy": (70,), "eighty": (80,), "ninety": (90,), "hundred": (100,), "thousand": (1000,),
}
_WORD = re.compile(
    r"\b(" + "|".join(sorted(_WORD_CONSTANTS, key=len, reverse=True)) + r")(?:s|es|ly)?\b", re.IGNORECASE
)
_PLAIN_CONSTANTS = frozenset(Fraction(value) for value in (*range(11), 100, 1000))
_FACTORS = (10, 100, 1000, 60, 24, 7, 12)
_PERCENT = re.compile(r"\s*(?:%|percent\b)")


@dataclass(frozen=True)
class _Range:
    """Where a new value for one input may fall: multiples of `step` in [low, high]."""

    old: Fraction
    low: Fraction
    high: Fraction
    step: Fraction
    places: int


class NumericGSM8K:
    """New numbers for a GSM8K item; the variant's answer is the replayed chain's '####' value."""

    name = "numeric_gsm8k"
    version = 1
    surface = True

    def __init__(self, question_field: str = "question", answer_field: str = "answer"):
        self.question_field = question_field
        self.answer_field = answer_field

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        check_request(self.name, fields, n, seed)
        question = text_field(self.name, fields, self.question_field)
        solution = text_field(self.name, fields, self.answer_field)
        chain, ranges = self.plan(question, solution)
        if n == 0:
            return []
        rng = item_rng(seed, self.name, fields)
        taken = _values_in(question, solution)
        seen, found, reason = {question}, [], ""
        for _ in range(max(MIN_ATTEMPTS, ATTEMPTS_PER_VARIANT * n)):
            new_inputs = _draw(rng, ranges, taken)
            if new_inputs is None:
                reason = "too few values to draw from"
                continue
            try:
                variant = self._variant(fields, question, solution, chain, new_inputs, seed)
            except GeneratorError as exc:
                reason = str(exc)
                continue
            if variant.text not in seen:
                seen.add(variant.text)
                found.append(variant)
                if len(found) == n:
                    break
        if not found:
            raise GeneratorError(f"no draw of new values kept every step's shape ({reason})")
        return found

    def plan(self, question: str, solution: str) -> tuple[Chain, list[_Range]]:
        """The traced chain and the inputs that will get new values, or why the item cannot vary."""
        constants = _implied_constants(question + "\n" + ANNOTATION.sub(" ", solution))
        chain = read_chain(question, solution, constants)
        found = numerals.tokens(question)
        unclean = {token.value for token in found if not token.clean}
        related = _explain_constants(chain, constants | unclean, {token.value for token in found})
        ranges = []
        for value in sorted(chain.inputs):
            if value in unclean | constants | related or value <= 1 or _looks_like_year(value, found):
                continue
            percent = any(token.value == value and _PERCENT.match(question, token.end) for token in found)
            span = _range(value, percent)
            if span is not None:
                ranges.append(span)
        if not ranges:
            held = ", ".join(numerals.plain(value) for value in sorted(chain.inputs)) or "none"
            raise GeneratorError(f"no question number feeding the annotations can vary (inputs: {held})")
        return chain, ranges

    def _variant(self, fields, question, solution, chain, new_inputs, seed) -> Variant:
        replayed = replay(chain, new_inputs)
        for index, (step, new) in enumerate(zip(chain.steps, replayed)):
            _check_shape(step.result, new.result, f"step {index + 1} <<{new.expr}>>")
        answer = replayed[chain.final].result
        if chain.answer > 0 and answer <= 0:
            raise GeneratorError(f"the answer became {numerals.plain(answer)}")
        found = numerals.tokens(question)
        new_text = {
            token.start: numerals.styled(new_inputs[token.value], token.text)
            for token in found
            if token.clean and token.value in new_inputs
        }
        new_question = numerals.replace(question, found, new_text)
        new_solution = write_solution(solution, chain, new_inputs, replayed)
        changed = ", ".join(f"{numerals.plain(old)}->{numerals.plain(new)}" for old, new in sorted(new_inputs.items()))
        value = answer.numerator if answer.denominator == 1 else numerals.plain(answer)
        new_fields = {**fields, self.question_field: new_question, self.answer_field: new_solution}
        return Variant(new_question, value, self.name, self.version, seed, new_fields, note=changed)


def _explain_constants(chain: Chain, known: frozenset, asked: set) -> set[Fraction]:
    """Every constant of the chain must be explained, or it may be the result of a step the
    solution did in prose (then it would not follow new inputs). Returns the question values a
    constant is derived from (0.4 from 40%, 1.25 from 25% more, 0.5 from 30 minutes): those stay."""
    related: set[Fraction] = set()
    for step in chain.steps:
        for leaf in step.leaves:
            explained = leaf.value in known or leaf.value in _PLAIN_CONSTANTS
            if leaf.source != "constant" or (explained and leaf.value.denominator == 1):
                continue  # whole constants like 7 or 60 would relate to too many numbers (70, 600) by chance
            sources = {value for value in asked if leaf.value in _derived(value)}
            if not sources and not explained:
                shown = numerals.plain(leaf.value)
                raise GeneratorError(f"{shown} in {step.text} is no question number, earlier result or known constant")
            related |= sources
    return related


def _derived(value: Fraction) -> set[Fraction]:
    """Values a solution writes for a question value: percentages as fractions, unit conversions."""
    found = {value / 100, 1 + value / 100, 1 - value / 100}
    for factor in _FACTORS:
        found |= {value / factor, value * factor}
    return found


def _implied_constants(text: str) -> frozenset[Fraction]:
    values = {Fraction(value) for word in _WORD.findall(text) for value in _WORD_CONSTANTS[word.lower()]}
    if "%" in text:
        values.add(Fraction(100))
    return frozenset(values)


def _looks_like_year(value: Fraction, found: list) -> bool:
    if value.denominator != 1 or not 1800 <= value <= 2099 or value % 100 == 0:
        return False
    return any(token.value == value and "," not in token.text for token in found)


def _range(old: Fraction, percent: bool) -> _Range | None:
    """Same kind as old: same decimal places, as round as old, within 0.5x..2x (at most 100 for
    a percentage). None when fewer than MIN_CHOICES values qualify."""
    places = numerals.decimals(old)
    if places is None:
        return None
    low, high = old / 2, old * 2
    if percent and old <= 100:
        high = min(high, Fraction(100))
    if places:
        step = Fraction(1, 10**places)
    else:
        zeros = len(str(old.numerator)) - len(str(old.numerator).rstrip("0"))
        step = Fraction(10**zeros)
        while step > 1 and math.floor(high / step) - math.ceil(low / step) + 1 < MIN_CHOICES + 1:
            step /= 10
    if math.floor(high / step) - math.ceil(low / step) + 1 < MIN_CHOICES:
        return None
    return _Range(old, low, high, step, places)


def _draw(rng, ranges: list[_Range], taken: frozenset) -> dict[Fraction, Fraction] | None:
    """New values for the inputs, none equal to a value already in the item or to each other.
    An input with no free value this time keeps its own; None when no input moved."""
    chosen: dict[Fraction, Fraction] = {}
    for span in ranges:
        first, last = math.ceil(span.low / span.step), math.floor(span.high / span.step)
        for _ in range(20):
            value = rng.randint(first, last) * span.step
            fresh = value not in taken and value not in chosen.values()
            if fresh and value > 1 and numerals.decimals(value) == span.places:
                chosen[span.old] = value
                break
    return chosen or None


def _values_in(*texts: str) -> frozenset[Fraction]:
    values = set()
    for text in texts:
        values |= {token.value for token in numerals.tokens(text)}
        for number in re.finditer(r"\d*\.?\d+", " ".join(ANNOTATION.findall(text))):
            values.add(Fraction(number.group()))
    return frozenset(values)


def _check_shape(old: Fraction, new: Fraction, where: str) -> None:
    if old >= 0 and new < 0:
        raise GeneratorError(f"{where} went negative ({float(new):g})")
    places, new_places = numerals.decimals(old), numerals.decimals(new)
    if new_places is None or new_places > places:
        like = numerals.plain(old)
        raise GeneratorError(f"{where} gives {float(new):g}, not a number with {places} decimal places like {like}")
