"""Numbers in prose: find whole number tokens, read their value, write new values in their style.

A token is a whole number ('12' never matches inside '120' or '1.2'). Tokens whose meaning is
not a plain quantity (3:30, 1/2, 3rd, 10am, .5) are marked unclean, so callers leave them alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_RUN = re.compile(r"(?<![\w.])\.\d+(?![\d.])|\d[\d,.]*\d|\d")
_PLAIN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_CLOCK = re.compile(r"\s*(?:a\.m\.|p\.m\.|am\b|pm\b|o'clock)", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    value: Fraction | None
    clean: bool


def tokens(text: str) -> list[Token]:
    """Every maximal digit run in text, with its value where it reads as one number."""
    found = []
    for match in _RUN.finditer(text):
        run, start, end = match.group(), match.start(), match.end()
        if not _PLAIN.fullmatch(run) and run.endswith((",", ".")):
            run, end = run[:-1], end - 1
        if run.startswith("."):  # '.5 cups': a value, but not one we rewrite
            found.append(Token(start, end, run, Fraction("0" + run), False))
            continue
        if _PLAIN.fullmatch(run):
            found.append(Token(start, end, run, Fraction(run.replace(",", "")), _plain_context(text, start, end)))
            continue
        for part in re.finditer(r"\d+", run):  # a list like 2,3,4 or a version like 1.2.3
            found.append(Token(start + part.start(), start + part.end(), part.group(), Fraction(part.group()), False))
    return found


def _plain_context(text: str, start: int, end: int) -> bool:
    before, after = text[start - 1 : start] if start else "", text[end : end + 1]
    if before.isalpha() or after.isalpha() or before in (".", ":") or after == ":":
        return False
    fraction_before = before == "/" and text[start - 2 : start - 1].isdigit()
    if fraction_before or (after == "/" and text[end + 1 : end + 2].isdigit()):
        return False
    return not _CLOCK.match(text, end)


def decimals(value: Fraction) -> int | None:
    """How many decimal places value needs; None when its decimal expansion never ends."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    return max(twos, fives) if denominator == 1 else None


def plain(value: Fraction) -> str:
    """The shortest decimal text of a value that has one ('7.5', '3', '-0.25')."""
    places = decimals(value)
    if places is None:
        raise ValueError(f"{value} has no finite decimal form")
    if places == 0:
        return str(value.numerator // value.denominator)
    scaled = abs(value.numerator * 10**places // value.denominator)
    digits = str(scaled).rjust(places + 1, "0")
    return ("-" if value < 0 else "") + digits[:-places] + "." + digits[-places:]


def styled(value: Fraction, like: str) -> str:
    """value written the way the token `like` was: thousands commas, and padded decimal places
    when like was padded ('$1.50' gives '$2.30', but '2.5' gives '2', not '2.0')."""
    text = plain(value)
    shown = len(like.split(".", 1)[1]) if "." in like else 0
    padded = shown > 0 and like.endswith("0")
    whole, _, fraction = text.partition(".")
    if padded and len(fraction) < shown:
        fraction = fraction.ljust(shown, "0")
    if "," in like:
        sign = "-" if whole.startswith("-") else ""
        whole = sign + f"{int(whole.lstrip('-')):,}"
    return whole + ("." + fraction if fraction else "")


def replace(text: str, found: list[Token], new_text: dict[int, str]) -> str:
    """text with the tokens at the given start offsets rewritten; everything else untouched."""
    pieces, last = [], 0
    for token in found:
        if token.start in new_text:
            pieces += [text[last : token.start], new_text[token.start]]
            last = token.end
    return "".join(pieces) + text[last:]
