"""What every variant generator returns, and the rules they share (deterministic, no global random)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Protocol


class GeneratorError(ValueError):
    """An item a generator cannot vary; the message says why (e.g. 'no <<a*b=c>> annotations')."""


@dataclass(frozen=True)
class Variant:
    """One equivalent item. `answer` is the recomputed answer or remapped index; None when the
    original answer stands unchanged (the rewrite touched only wording)."""

    text: str
    answer: str | int | None
    generator: str
    version: int
    seed: int
    fields: dict = field(repr=False)
    note: str = ""
    defect: str = ""  # why the generator itself finds this candidate invalid: kept in the library, rejected


class Generator(Protocol):
    """A variant generator: the same (fields, n, seed) always gives the same variants, each
    different from the original and from one another, at most n of them. `surface` is True for
    edits that keep the wording (new numbers, names, choice order), False for rewordings."""

    name: str
    version: int
    surface: bool

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]: ...


def fields_hash(fields: dict) -> str:
    """A hash of an item's fields that is the same in every process (unlike hash())."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def item_rng(seed: int, name: str, fields: dict) -> random.Random:
    """The generator's random source for one item, so variants never depend on call order."""
    return random.Random(f"{seed}:{name}:{fields_hash(fields)}")


def check_request(generator: str, fields, n, seed) -> None:
    """Refuse a malformed call before any work, naming the argument at fault."""
    if not isinstance(fields, dict):
        raise TypeError(f"{generator}: fields must be a dict, got {type(fields).__name__}")
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"{generator}: n must be a non-negative int, got {n!r}")
    if n < 0:
        raise ValueError(f"{generator}: n must be a non-negative int, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"{generator}: seed must be an int, got {seed!r}")


def text_field(generator: str, fields: dict, name: str) -> str:
    """fields[name] as a non-empty string, or a GeneratorError naming the field."""
    if name not in fields:
        present = ", ".join(map(str, fields)) or "none"
        raise GeneratorError(f"{generator}: item has no field {name!r} (fields: {present})")
    value = fields[name]
    if not isinstance(value, str) or not value.strip():
        raise GeneratorError(f"{generator}: field {name!r} must be non-empty text, got {value!r:.60}")
    return value
