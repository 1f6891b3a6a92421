"""The question's frame reworded by a few meaning-preserving templates.

'How many apples does Ann have?' becomes 'What is the number of apples that Ann has?', and a
neutral lead-in ('Answer the following question.') may come first. Only the asking clause at the
end of the text changes; the facts before it are untouched, so the answer stands.
"""

from __future__ import annotations

import re

from .variant import GeneratorError, Variant, check_request, item_rng, text_field

_SUBJECT = r"(?P<y>he|she|they|it|we|you|I|[A-Z][a-z]+)"
_MODAL = r"(?P<m>will|would|can|could|should|must|might)"
_THINGS = r"(?P<x>(?!of\b)[^?!]+?)"  # 'apples', 'more minutes' (not 'of the gems')
_REST = r"(?P<rest>[^?!]*)"
# (name, pattern, replacement): each pattern matches the asking clause up to the closing '?' at
# the end of the text; the replacement keeps the clause's words, reordered.
FRAMES = (
    ("how-many-does-have", rf"How many {_THINGS} does {_SUBJECT} have{_REST}\?",
     r"What is the number of \g<x> that \g<y> has\g<rest>?"),
    ("how-many-do-have", rf"How many {_THINGS} do {_SUBJECT} have{_REST}\?",
     r"What is the number of \g<x> that \g<y> have\g<rest>?"),
    ("number-that-has", rf"What is the number of {_THINGS} that {_SUBJECT} has{_REST}\?",
     r"How many \g<x> does \g<y> have\g<rest>?"),
    ("how-many-modal", rf"How many {_THINGS} {_MODAL} {_SUBJECT} (?P<rest>[^?!]+)\?",
     r"What is the number of \g<x> that \g<y> \g<m> \g<rest>?"),
    ("how-many-there", rf"How many {_THINGS} (?P<v>are|were) there{_REST}\?",
     r"What is the number of \g<x> that there \g<v>\g<rest>?"),
    ("how-much-cost", r"How much (?P<v>does|did) (?P<x>(?!it\b)[^?!]+?) cost\?",
     r"What \g<v> \g<x> cost?"),
    ("how-old", r"How old is (?P<y>[A-Z][a-z]+)(?P<rest>(?: now| today)?)\?",
     r"What is \g<y>'s age\g<rest>?"),
    ("how-long-take", rf"How long (?P<v>will|does|did|would) it take{_REST}\?",
     r"How much time \g<v> it take\g<rest>?"),
    ("what-is-calculate", r"What(?: is|'s) (?P<x>the [^?!]+)\?",
     r"Calculate \g<x>."),
    ("calculate-what-is", r"(?:Calculate|Find) (?P<x>the [^.?!]+)\.",
     r"What is \g<x>?"),
)
PREFIXES = (
    "Answer the following question. ",
    "Solve this problem: ",
    "Here is a word problem. ",
    "Read the problem below and answer it. ",
)
_COMPILED = tuple((name, re.compile(pattern + r"\s*"), repl) for name, pattern, repl in FRAMES)


class ReframeQuestion:
    """Reword the asking clause of `field`, optionally after a neutral lead-in."""

    name = "reframe_question"
    version = 1
    surface = False

    def __init__(self, field: str = "question"):
        self.field = field

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        check_request(self.name, fields, n, seed)
        text = text_field(self.name, fields, self.field)
        framed = [("", text)] + [(name, new) for name, new in reframed(text)]
        prefixes = [""] + (list(PREFIXES) if text.rstrip().endswith("?") or len(framed) > 1 else [])
        options = [(frame, prefix, prefix + body) for frame, body in framed for prefix in prefixes if frame or prefix]
        if not options:
            raise GeneratorError(
                f"{self.name}: no frame template matches field {self.field!r} and it does not end in a question"
            )
        rng = item_rng(seed, self.name, fields)
        rng.shuffle(options)
        found, seen = [], {text}
        for frame, prefix, new in options:
            if len(found) == n:
                break
            if new in seen:
                continue
            seen.add(new)
            note = " + ".join(part for part in (f"prefix {prefix.strip()!r}" if prefix else "", frame) if part)
            found.append(Variant(new, None, self.name, self.version, seed, {**fields, self.field: new}, note))
        return found


def reframed(text: str) -> list[tuple[str, str]]:
    """(template name, rewritten text) for every frame template that matches the text's end."""
    found = []
    for name, pattern, repl in _COMPILED:
        for start in _clause_starts(text):
            clause = text[start:]
            match = pattern.fullmatch(clause[:1].upper() + clause[1:])
            if match:
                new = match.expand(repl)
                if clause[:1].islower():
                    new = new[:1].lower() + new[1:]
                found.append((name, text[:start] + new))
                break
    return found


def _clause_starts(text: str):
    """Where an asking clause may begin: a sentence start or just after a comma, last one first."""
    starts = [0] + [match.end() for match in re.finditer(r"[.!?,;:]\s+", text)]
    return sorted(set(starts), reverse=True)
