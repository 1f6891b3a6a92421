"""Person names swapped consistently across question and answer.

A model that recalls 'Janet's ducks' by heart should not care that Priya owns them. Names come
from short project-written lists (the first names most common in GSM8K, minus those that are
also words: Bill, May, Rose); a name is replaced by one of the same group (she stays she), and
the same name gets the same replacement everywhere, whole words only.
"""

from __future__ import annotations

import re

from .reframe import ReframeQuestion  # noqa: F401  (also importable from here: both reword, neither recomputes)
from .variant import GeneratorError, Variant, check_request, item_rng, text_field

FEMALE = (
    "Janet", "Sarah", "Sally", "Martha", "Mary", "Jane", "Amy", "Kelly", "Anne", "Susan", "Jenny",
    "Hannah", "Melanie", "Marissa", "Cindy", "Julia", "Nancy", "Maria", "Madeline", "Anna", "Ashley",
    "Julie", "Jenna", "Carla", "Jill", "Samantha", "Sophia", "Judy", "Emma", "Wendy", "Alice", "Emily",
)
MALE = (
    "John", "James", "Mark", "Tom", "Peter", "Tim", "Bob", "Mike", "Robert", "Jim", "Adam", "Josh",
    "Billy", "Ben", "Jerry", "Joe", "Jason", "George", "Paul", "David", "Steve", "Carl", "Carlos",
    "Raymond", "Henry", "Richard", "Greg", "Harry", "Jake", "Juan", "Gary", "Andy", "Marcus", "Jeff",
)
FEMALE_REPLACEMENTS = (
    "Priya", "Olivia", "Fatima", "Chloe", "Isabel", "Lucia", "Nadia", "Ingrid", "Yuki", "Leila",
    "Elena", "Zara", "Aisha", "Keiko", "Natalia", "Amara",
)
MALE_REPLACEMENTS = (
    "Omar", "Ravi", "Diego", "Lucas", "Mateo", "Hiroshi", "Kwame", "Tariq", "Felix", "Oscar",
    "Ivan", "Rahul", "Samuel", "Ethan", "Liam", "Kenji",
)
GROUPS = ((FEMALE, FEMALE_REPLACEMENTS), (MALE, MALE_REPLACEMENTS))
MAX_ATTEMPTS = 200


class SubstituteNames:
    """New first names in `field` and, consistently, in the `answer_fields` that are text."""

    name = "substitute_names"
    version = 1
    surface = True

    def __init__(self, field: str = "question", answer_fields: tuple[str, ...] = ("answer",)):
        if isinstance(answer_fields, str):
            raise TypeError("answer_fields must be a tuple of field names, not one string")
        self.field = field
        self.answer_fields = tuple(answer_fields)

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        check_request(self.name, fields, n, seed)
        question = text_field(self.name, fields, self.field)
        texts = {self.field: question}
        texts.update({name: fields[name] for name in self.answer_fields if isinstance(fields.get(name), str)})
        everything = "\n".join(texts.values())
        present = [name for name in FEMALE + MALE if _word(name).search(question)]
        if not present:
            raise GeneratorError(f"{self.name}: no known first name in field {self.field!r}")
        present += [name for name in FEMALE + MALE if name not in present and _word(name).search(everything)]
        rng = item_rng(seed, self.name, fields)
        found, seen = [], set()
        for _ in range(MAX_ATTEMPTS):
            if len(found) == n:
                break
            mapping = _draw(rng, present, everything)
            if mapping is None or tuple(mapping.items()) in seen:
                continue
            seen.add(tuple(mapping.items()))
            new_texts = {key: _swap(text, mapping) for key, text in texts.items()}
            note = ", ".join(f"{old}->{new}" for old, new in mapping.items())
            new_fields = {**fields, **new_texts}
            found.append(Variant(new_texts[self.field], None, self.name, self.version, seed, new_fields, note))
        return found


def _swap(text: str, mapping: dict[str, str]) -> str:
    """All names at once, so a replacement is never itself replaced."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")
    return pattern.sub(lambda match: mapping[match.group()], text)


def _word(name: str) -> re.Pattern:
    return re.compile(r"\b" + re.escape(name) + r"\b")


def _draw(rng, present: list[str], text: str) -> dict[str, str] | None:
    """A replacement for every name present, from its group, not already a word of the item."""
    mapping: dict[str, str] = {}
    for name in present:
        pool = next(replacements for names, replacements in GROUPS if name in names)
        free = [new for new in pool if new not in mapping.values() and not _word(new).search(text)]
        if not free:
            return None
        mapping[name] = rng.choice(free)
    return mapping
