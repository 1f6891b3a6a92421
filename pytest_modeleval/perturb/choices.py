"""Multiple-choice items with their choices permuted and the answer remapped.

A model that memorized 'the answer is B' fails once B moves. Each variant is a distinct
ordering (never the original one); the answer keeps the item's representation (an index,
a letter, or a digit string as read from a CSV).
"""

from __future__ import annotations

import itertools
import string

from .variant import GeneratorError, Variant, check_request, item_rng

MAX_ENUMERATED = 7  # up to 7 choices (5,040 orders) every order is listed, beyond that drawn
MMLU_COLUMNS = ("choice0", "choice1", "choice2", "choice3")


class ShuffleChoices:
    """Permute `fields[choices_field]` (a list), or the `choice_columns` of a flat row."""

    name = "shuffle_choices"
    version = 1
    surface = True

    def __init__(self, choices_field: str = "choices", answer_field: str = "answer",
                 question_field: str = "question", choice_columns: tuple[str, ...] | None = None):
        self.choices_field = choices_field
        self.answer_field = answer_field
        self.question_field = question_field
        self.choice_columns = tuple(choice_columns) if choice_columns else None

    @classmethod
    def mmlu(cls, answer_field: str = "answer", question_field: str = "question") -> ShuffleChoices:
        """For MMLU rows with one column per choice (choice0..choice3) and an answer index."""
        return cls(answer_field=answer_field, question_field=question_field, choice_columns=MMLU_COLUMNS)

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        check_request(self.name, fields, n, seed)
        choices = self._choices(fields)
        answer = self._answer(fields, len(choices))
        rng = item_rng(seed, self.name, fields)
        found, seen = [], {tuple(map(repr, choices))}
        for order in _orders(len(choices), rng):
            if len(found) == n:
                break
            moved = [choices[old] for old in order]
            key = tuple(map(repr, moved))
            if key in seen:  # equal choices can make a new order read like an old one
                continue
            seen.add(key)
            new_answer = _written_like(fields[self.answer_field], order.index(answer))
            new_fields = {**fields, self.answer_field: new_answer}
            if self.choice_columns:
                new_fields.update(zip(self.choice_columns, moved))
            else:
                new_fields[self.choices_field] = type(fields[self.choices_field])(moved)
            note = "order " + ",".join(map(str, order))
            found.append(Variant(self.prompt(new_fields), new_answer, self.name, self.version, seed, new_fields, note))
        if n and not found:
            raise GeneratorError(f"{self.name}: every order of the choices reads the same (they are all equal)")
        return found

    def _choices(self, fields: dict) -> list:
        if self.choice_columns:
            missing = [column for column in self.choice_columns if column not in fields]
            if missing:
                raise GeneratorError(f"{self.name}: item has no choice column(s) {', '.join(missing)}")
            return [fields[column] for column in self.choice_columns]
        if self.choices_field not in fields:
            raise GeneratorError(f"{self.name}: item has no field {self.choices_field!r}")
        choices = fields[self.choices_field]
        if not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise GeneratorError(
                f"{self.name}: field {self.choices_field!r} must be a list of at least 2 choices, got {choices!r:.60}"
            )
        return list(choices)

    def _answer(self, fields: dict, count: int) -> int:
        if self.answer_field not in fields:
            raise GeneratorError(f"{self.name}: item has no field {self.answer_field!r}")
        answer = fields[self.answer_field]
        if isinstance(answer, int) and not isinstance(answer, bool):
            index = answer
        elif isinstance(answer, str) and answer.isdigit():
            index = int(answer)
        elif isinstance(answer, str) and len(answer) == 1 and answer in string.ascii_uppercase:
            index = string.ascii_uppercase.index(answer)
        else:
            raise GeneratorError(f"{self.name}: answer {answer!r} is neither an index nor a letter A-Z")
        if not 0 <= index < count:
            raise GeneratorError(f"{self.name}: answer {answer!r} points past the {count} choices")
        return index

    def prompt(self, fields: dict) -> str:
        """The question and its lettered choices: a variant's text, and the original's counterpart."""
        choices = self._choices(fields)
        lines = [f"{letter}. {choice}" for letter, choice in zip(string.ascii_uppercase, choices)]
        question = fields.get(self.question_field)
        return "\n".join(([str(question)] if question is not None else []) + lines)


def _orders(count: int, rng):
    """Orders of the choices other than the original, in a random sequence without repeats:
    order[i] is the old position of the choice now at position i."""
    identity = tuple(range(count))
    if count <= MAX_ENUMERATED:
        orders = [order for order in itertools.permutations(identity) if order != identity]
        rng.shuffle(orders)
        yield from orders
        return
    seen = {identity}
    for _ in range(1000):
        order = list(identity)
        rng.shuffle(order)
        if tuple(order) not in seen:
            seen.add(tuple(order))
            yield tuple(order)


def _written_like(original, index: int):
    """The new index in the original's representation: int, digit string or letter."""
    if isinstance(original, int):
        return index
    if original.isdigit():
        return str(index)
    return string.ascii_uppercase[index]
