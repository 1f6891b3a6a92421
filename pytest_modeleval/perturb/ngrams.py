"""Word n-grams normalised as lm-evaluation-harness's decontamination does, hashed to 64 bits.

lm-eval's Janitor lowercases ASCII letters and deletes `string.punctuation`, then splits on whitespace;
its overlap check uses 13-grams of those words. The same normalisation here means an item flagged by
lm-eval's decontamination is flagged by ours and the other way round. Each n-gram is kept as the first 8
bytes of its BLAKE2b digest: 8 bytes per n-gram on disk instead of the text, at a collision chance of
about n_index / 2^64 per lookup (under 1e-9 for a billion n-grams).
"""

from __future__ import annotations

import hashlib
import string
from typing import Iterator

N = 13
_TABLE = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, string.punctuation)


def normalise(text: str) -> list[str]:
    """The words lm-eval's Janitor.normalize_string leaves, split on whitespace."""
    return text.translate(_TABLE).split()


def ngrams(text: str, n: int = N) -> Iterator[str]:
    """The text's word n-grams, each its words joined by one space; none for a text shorter than n words."""
    words = normalise(text)
    for start in range(len(words) - n + 1):
        yield " ".join(words[start:start + n])


def ngram_hash(gram: str) -> int:
    """An n-gram's 64-bit key (unsigned)."""
    return int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "little")


def hashes(text: str, n: int = N) -> list[int]:
    return [ngram_hash(gram) for gram in ngrams(text, n)]
