"""The judge's prompts: a rubric in the system prompt, the answers in the user turn, a fixed verdict format.

The rubric (what "better" means) is the part a suite may replace; the verdict format is
always appended, because the parser (verdict.py) reads only that format. A template's
hash names it in cache keys and validation records: a judge validated with one rubric is
not thereby validated with another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

JudgeKind = Literal["pairwise", "rating"]  # two answers compared, or one answer rated on a scale

PAIRWISE_RUBRIC = (
    "You are an impartial judge. Two AI assistants, A and B, answered the same user question. Decide which "
    "answer serves the user better: it follows the instructions, is correct, answers what was asked, and is "
    "clear. A longer answer is not better for being longer. The order in which the answers appear and the "
    "letters A and B say nothing about their quality."
)
PAIRWISE_FORMAT_REASONED = (
    "Compare the two answers briefly, then end with your verdict on its own line, written exactly as one of: "
    "[[A]] (A is better), [[B]] (B is better) or [[C]] (a tie). Write no other double-bracketed text."
)
PAIRWISE_FORMAT_DIRECT = (
    "Reply with your verdict only, written exactly as one of: [[A]] (A is better), [[B]] (B is better) "
    "or [[C]] (a tie)."
)
PAIRWISE_USER = (
    "[Question]\n{question}\n\n"
    "[Answer A]\n{answer_a}\n[End of answer A]\n\n"
    "[Answer B]\n{answer_b}\n[End of answer B]"
)
RATING_RUBRIC = (
    "You are an impartial judge. Rate how well an AI assistant's answer serves the user: it follows the "
    "instructions, is correct, answers what was asked, and is clear. Length alone earns nothing."
)
RATING_FORMAT_REASONED = (
    "Explain your assessment briefly, then end with your rating on its own line, written exactly as [[N]] "
    "with N a whole number from 1 (useless) to {scale} (excellent). Write no other double-bracketed text."
)
RATING_FORMAT_DIRECT = (
    "Reply with your rating only, written exactly as [[N]] with N a whole number from 1 (useless) to {scale} "
    "(excellent)."
)
RATING_USER = "[Question]\n{question}\n\n[Answer]\n{answer}\n[End of answer]"
FORMAT_VERSION = 1  # bump when the parser's reading of the format changes


@dataclass(frozen=True)
class JudgeTemplate:
    """What the judge is shown: system prompt, user turn (a format string), and an optional answer prefix.

    `prefix` starts the judge's reply ("[[" when it must answer with the verdict alone), so a small
    judge that would wander is put on the format's first characters; the parser reads prefix + reply.
    """

    kind: JudgeKind
    system: str
    user: str
    prefix: str = ""
    scale: int = 0  # rating: the highest rating

    @property
    def sha256(self) -> str:
        document = {"kind": self.kind, "system": self.system, "user": self.user, "prefix": self.prefix,
                    "scale": self.scale, "format": FORMAT_VERSION}
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()

    def messages(self, **fields) -> list[dict]:
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.user.format(**fields)}]


def pairwise(rubric: str | None = None, *, reasoning: bool = True) -> JudgeTemplate:
    """The pairwise template: `rubric` replaces the default criteria; the verdict format stays."""
    fmt = PAIRWISE_FORMAT_REASONED if reasoning else PAIRWISE_FORMAT_DIRECT
    return JudgeTemplate("pairwise", _system(rubric or PAIRWISE_RUBRIC, fmt), PAIRWISE_USER,
                         prefix="" if reasoning else "[[")


def rating(rubric: str | None = None, *, scale: int = 10, reasoning: bool = True) -> JudgeTemplate:
    """The single-answer template: a rating from 1 to `scale`."""
    if not isinstance(scale, int) or scale < 2:
        raise ValueError(f"rating scale must be a whole number >= 2, got {scale!r}")
    fmt = (RATING_FORMAT_REASONED if reasoning else RATING_FORMAT_DIRECT).format(scale=scale)
    return JudgeTemplate("rating", _system(rubric or RATING_RUBRIC, fmt), RATING_USER,
                         prefix="" if reasoning else "[[", scale=scale)


def _system(rubric: str, fmt: str) -> str:
    if not isinstance(rubric, str) or not rubric.strip():
        raise ValueError("a judge rubric must be non-empty text")
    return rubric.strip() + "\n\n" + fmt
