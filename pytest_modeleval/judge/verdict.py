"""Strict parsing of what a judge model wrote: one verdict or one rating, or an error.

A judge that writes both `[[A]]` and `[[B]]`, neither, or something else must not be read
as a win, a loss or a tie: guessing would turn judge noise into a result. The formats are
MT-Bench's (`[[A]]`, `[[B]]`, `[[C]]` for a tie; `[[7]]` for a rating), asked for in the
prompt (templates.py) and parsed here and nowhere else.
"""

from __future__ import annotations

import re

PAIRWISE_TOKENS = {"[[A]]": "A", "[[B]]": "B", "[[C]]": "tie"}
_PAIRWISE = re.compile(r"\[\[\s*([^\[\]]{0,20}?)\s*\]\]")
_RATING = re.compile(r"\[\[\s*([0-9]+(?:\.[0-9]+)?)\s*\]\]")
SHOWN = 120  # characters of the judge's text quoted in an error


class VerdictError(ValueError):
    """The judge's output holds no single well-formed verdict; the message says what was wrong."""


def parse_pairwise(text: str) -> str:
    """'A', 'B' or 'tie' from a judge's output that holds exactly one kind of verdict token."""
    return parse_choice(text, PAIRWISE_TOKENS)


def parse_choice(text: str, tokens: dict[str, str]) -> str:
    """The meaning of the one kind of `[[TOKEN]]` in a judge's output, from `tokens` ({"[[A]]": "A", ...})."""
    if not isinstance(text, str):
        raise VerdictError(f"the judge returned {type(text).__name__}, not text")
    expected = ", ".join(tokens)
    found = _PAIRWISE.findall(text)
    verdicts = {tokens.get(f"[[{token.strip()}]]") for token in found}
    if not found:
        raise VerdictError(f"no verdict: expected one of {expected} in {_quote(text)}")
    if None in verdicts:
        odd = next(token for token in found if f"[[{token.strip()}]]" not in tokens)
        raise VerdictError(f"unknown verdict [[{odd}]]: expected {expected} in {_quote(text)}")
    if len(verdicts) > 1:
        names = ", ".join(sorted(f"[[{t}]]" for t in {token.strip() for token in found}))
        raise VerdictError(f"several verdicts ({names}) in {_quote(text)}")
    return verdicts.pop()


def parse_rating(text: str, scale: int) -> float:
    """The one rating `[[N]]` (1 <= N <= scale) in a judge's output."""
    if not isinstance(text, str):
        raise VerdictError(f"the judge returned {type(text).__name__}, not text")
    found = {float(value) for value in _RATING.findall(text)}
    if not found:
        raise VerdictError(f"no rating: expected [[N]] with 1 <= N <= {scale} in {_quote(text)}")
    if len(found) > 1:
        raise VerdictError(f"several ratings ({', '.join(f'{v:g}' for v in sorted(found))}) in {_quote(text)}")
    value = found.pop()
    if not 1 <= value <= scale:
        raise VerdictError(f"rating {value:g} is outside 1..{scale} in {_quote(text)}")
    return value


def _quote(text: str) -> str:
    """The judge's text in an error message: short, on one line."""
    flat = " ".join(text.split())
    if len(flat) <= SHOWN:
        return repr(flat)
    return repr(flat[:SHOWN // 2] + " ... " + flat[-SHOWN // 2:]) + f" ({len(text)} characters)"
