"""A GSM8K solution's calculator annotations as a chain that can be replayed with new inputs.

Solutions carry steps like 'She makes 9 * 2 = $<<9*2=18>>18' and end with '#### 18'. Each
number inside an annotation is traced to its source: the result of an earlier step, a number
of the question (an input), or a constant of the solution (7 days a week). Replaying evaluates
the steps in order with new inputs, feeding each step's new result to the steps that read it.
Tracing is by value, so an item where one value could come from two sources is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from . import numerals
from .arith import ExpressionError, evaluate
from .variant import GeneratorError

ANNOTATION = re.compile(r"<<([^<>]*)>>")
LEAF = re.compile(r"\d*\.?\d+")
FINAL = re.compile(r"####\s*(.*?)\s*$", re.DOTALL)
# 'x+x+30=110', 'b = 4s', '3x + 4 = 28': a solution that solves for an unknown (a, A and I are words)
ALGEBRA = re.compile(
    r"(?<![\w'’$.])\d*(?![aAI]\b)[a-zA-Z](?![\w'’])\s*(?:=|[-+*/]\s*[\d(]|[-+*/]\s*(?![aAI]\b)[a-zA-Z](?![\w'’]))"
)
# '20*.4=8 more minutes': a value the solution computed in prose, without an annotation
PROSE_RESULT = re.compile(r"=\s*\$?\s*(\d[\d,]*(?:\.\d+)?)")


@dataclass(frozen=True)
class Leaf:
    """A number inside an annotation: `source` is 'input', 'step' (then `step` is its index) or 'constant'."""

    value: Fraction
    source: str
    step: int | None = None


@dataclass(frozen=True)
class Step:
    text: str  # the annotation as written, '<<48/2=24>>'
    start: int  # its span in the solution
    end: int
    pieces: tuple[str, ...]  # the expression's text around its leaves (one more than leaves)
    leaves: tuple[Leaf, ...]
    result: Fraction


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...]
    final: int  # the step whose result is the '####' answer
    answer: Fraction
    inputs: frozenset[Fraction]  # the question values the steps read


def final_answer(solution: str) -> Fraction:
    """The number after '####'."""
    match = FINAL.search(solution)
    if not match:
        raise GeneratorError("solution has no '#### <answer>' line")
    text = match.group(1).replace(",", "").replace("$", "").strip()
    try:
        return Fraction(text)
    except ValueError:
        raise GeneratorError(f"'####' answer {match.group(1)!r} is not a number") from None


def read_chain(question: str, solution: str, constants: frozenset = frozenset()) -> Chain:
    """Trace every annotation number of the solution. `constants` are values the wording implies
    (2 for 'half'): an earlier result with such a value might be the constant instead, so refused."""
    if not ANNOTATION.search(solution):
        raise GeneratorError("no <<a*b=c>> annotations in the solution")
    asked = {token.value for token in numerals.tokens(question)}
    masked = ANNOTATION.sub(lambda match: "#" * len(match.group()), solution)
    algebra = ALGEBRA.search(masked)
    if algebra:
        shown = algebra.group().strip()
        raise GeneratorError(f"the solution solves for an unknown ({shown!r}), which a replay cannot follow")
    hidden = {Fraction(match.group(1).replace(",", "")) for match in PROSE_RESULT.finditer(masked.split("####")[0])}
    steps: list[Step] = []
    for match in ANNOTATION.finditer(solution):
        expr, result = _checked(match.group(1))
        leaves, pieces, last = [], [], 0
        for number in LEAF.finditer(expr):
            pieces.append(expr[last : number.start()])
            leaves.append(_trace(Fraction(number.group()), steps, asked, constants, match.group(0)))
            last = number.end()
        pieces.append(expr[last:])
        step = Step(match.group(0), match.start(), match.end(), tuple(pieces), tuple(leaves), result)
        _check_not_hidden(step, steps, hidden)
        steps.append(step)
    answer = final_answer(solution)
    finals = [index for index, step in enumerate(steps) if step.result == answer]
    if not finals:
        raise GeneratorError(f"the '####' answer {numerals.plain(answer)} is no annotation's result")
    inputs = frozenset(leaf.value for step in steps for leaf in step.leaves if leaf.source == "input")
    return Chain(tuple(steps), finals[-1], answer, inputs)


def _checked(annotation: str) -> tuple[str, Fraction]:
    if annotation.count("=") != 1:
        raise GeneratorError(f"annotation <<{annotation}>> is not of the form <<expr=result>>")
    expr, shown = annotation.split("=")
    try:
        value, result = evaluate(expr), evaluate(shown)
    except ExpressionError as exc:
        raise GeneratorError(f"annotation <<{annotation}>>: {exc}") from None
    if value != result:
        raise GeneratorError(f"annotation <<{annotation}>> gives {float(value):g}, not its stated result")
    return expr, result


def _trace(value: Fraction, steps: list[Step], asked: set, constants: frozenset, where: str) -> Leaf:
    earlier = [index for index, step in enumerate(steps) if step.result == value]
    shown = numerals.plain(value)
    if not earlier:
        return Leaf(value, "input" if value in asked else "constant")
    if len(earlier) > 1:
        raise GeneratorError(f"{shown} in {where} is the result of more than one earlier step")
    if value in asked:
        raise GeneratorError(f"{shown} in {where} is both a question number and an earlier step's result")
    if value in constants:
        raise GeneratorError(f"{shown} in {where} is an earlier step's result and a constant the wording implies")
    return Leaf(value, "step", earlier[0])


def _check_not_hidden(step: Step, earlier: list[Step], hidden: set) -> None:
    """Refuse numbers that are really results the solution got without an annotation: a bare
    <<8=8>>, a value written after '=' in the prose (even one the question also has), or an
    earlier result with its sign dropped."""
    constants = [leaf.value for leaf in step.leaves if leaf.source == "constant"]
    if constants and len(step.leaves) == 1 and not re.search(r"[-+*/]", "".join(step.pieces)):
        raise GeneratorError(f"{step.text} states a value computed outside the annotations")
    for leaf in step.leaves:
        if leaf.source != "step" and leaf.value in hidden:
            shown = numerals.plain(leaf.value)
            raise GeneratorError(f"{shown} in {step.text} was computed in the prose, without an annotation")
    for value in constants:
        if value and any(previous.result == -value for previous in earlier):
            raise GeneratorError(f"{numerals.plain(value)} in {step.text} is an earlier result with its sign dropped")


@dataclass(frozen=True)
class Replayed:
    values: tuple[Fraction, ...]  # the step's leaves, as replayed
    expr: str
    result: Fraction


def replay(chain: Chain, new_inputs: Mapping[Fraction, Fraction]) -> list[Replayed]:
    """Every step evaluated again, inputs swapped per new_inputs (absent ones keep their value)."""
    done: list[Replayed] = []
    for step in chain.steps:
        values = [_new_value(leaf, new_inputs, done) for leaf in step.leaves]
        expr = "".join(piece + numerals.plain(value) for piece, value in zip(step.pieces, values)) + step.pieces[-1]
        try:
            result = evaluate(expr)
        except ExpressionError as exc:
            raise GeneratorError(f"replaying <<{expr}>>: {exc}") from None
        if numerals.decimals(result) is None:
            raise GeneratorError(f"replaying <<{expr}>> gives {float(result):g}, which no decimal writes exactly")
        done.append(Replayed(tuple(values), expr, result))
    return done


def _new_value(leaf: Leaf, new_inputs: Mapping[Fraction, Fraction], done: list[Replayed]) -> Fraction:
    if leaf.source == "step":
        return done[leaf.step].result
    if leaf.source == "input":
        return new_inputs.get(leaf.value, leaf.value)
    return leaf.value


def check_solution(solution: str) -> Fraction:
    """The '####' answer of a solution whose every annotation evaluates to its stated result and
    one of whose annotations gives that answer: how a written-out variant is verified."""
    results = [_checked(match.group(1))[1] for match in ANNOTATION.finditer(solution)]
    if not results:
        raise GeneratorError("no <<a*b=c>> annotations in the solution")
    answer = final_answer(solution)
    if answer not in results:
        raise GeneratorError(f"the '####' answer {numerals.plain(answer)} is no annotation's result")
    return answer


def write_solution(solution: str, chain: Chain, new_inputs: Mapping[Fraction, Fraction],
                   replayed: list[Replayed]) -> str:
    """The solution rewritten for a replay: new annotations, the prose numbers that show them
    ('16 - 3 - 4 = <<...>>9'), the inputs it repeats, and the new '####' answer."""
    final = FINAL.search(solution)
    inside = [(step.start, step.end) for step in chain.steps]
    prose = [
        token
        for token in numerals.tokens(solution[: final.start()])
        if not any(start <= token.start < end for start, end in inside)
    ]
    edits = {
        step.start: (step.end, f"<<{new.expr}={numerals.plain(new.result)}>>")
        for step, new in zip(chain.steps, replayed)
    }
    shown = _mirrored(solution, chain, replayed, prose)
    by_value: dict[Fraction, set] = {}
    for value in chain.inputs:
        by_value.setdefault(value, set()).add(new_inputs.get(value, value))
    for step, new in zip(chain.steps, replayed):
        by_value.setdefault(step.result, set()).add(new.result)
    for token in prose:
        if token.start in shown or not token.clean or token.value not in by_value:
            continue
        options = by_value[token.value]
        if len(options) > 1:
            raise GeneratorError(f"the solution's {token.text!r} could stand for several replayed values")
        (new,) = options
        if new != token.value:
            shown[token.start] = numerals.styled(new, token.text)
    for token in prose:
        if token.start in shown:
            edits[token.start] = (token.end, shown[token.start])
    answer = replayed[chain.final].result
    edits[final.start(1)] = (final.end(1), numerals.styled(answer, final.group(1)))
    return _splice(solution, edits)


def _mirrored(solution: str, chain: Chain, replayed: list[Replayed], prose: list) -> dict[int, str]:
    """New text for prose numbers that write out an annotation: its result right after '>>', and
    the expression just before '= <<' when its numbers match the annotation's in order."""
    shown: dict[int, str] = {}
    starts = {token.start: token for token in prose}
    boundary = 0
    for step, new in zip(chain.steps, replayed):
        window = [token for token in prose if boundary <= token.start and token.end <= step.start]
        count = len(step.leaves)
        written = window[-count:] if count and len(window) >= count else []
        if written and [token.value for token in written] == [leaf.value for leaf in step.leaves] \
                and "=" in solution[written[-1].end : step.start]:
            for token, value in zip(written, new.values):
                shown[token.start] = numerals.styled(value, token.text)
        boundary = step.end
        after = starts.get(step.end)
        if after is not None and after.value == step.result:
            shown[after.start] = numerals.styled(new.result, after.text)
            boundary = after.end
    return shown


def _splice(text: str, edits: dict[int, tuple[int, str]]) -> str:
    pieces, last = [], 0
    for start in sorted(edits):
        end, new = edits[start]
        pieces += [text[last:start], new]
        last = end
    return "".join(pieces) + text[last:]
