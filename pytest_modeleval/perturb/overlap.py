"""Training-data overlap: an on-disk sorted set of a corpus's n-gram hashes, and the items that share n-grams
with it (`modeleval contamination index`, `suite(..., overlap_index=DIR)`).

Why a sorted hash set on disk: a pretraining corpus does not fit in memory, and the question asked of it
("does this 13-gram occur, and where first?") needs exact membership, not an estimate. The build streams
the corpus once, spreading (hash, source) pairs into `buckets` files by the hash's top bits; each bucket
is then sorted and deduplicated alone, and the buckets are concatenated, which is the global order. Peak
memory is the pending `chunk` of pairs plus one bucket (12 bytes a pair), whatever the corpus size. A
lookup is a binary search in the memory-mapped array: a few pages read per n-gram.

The directory holds `hashes.u64` (sorted, unique), `sources.u32` (for each hash, the first record that
had it), `sources.txt` (record names, `file:line`, one a line) and `index.json` (n, counts, corpus).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .ngrams import N, hashes

FORMAT = 1
DEFAULT_CHUNK = 1_000_000  # pairs held before they are spread to the bucket files (12 MB)
DEFAULT_BUCKETS = 256
PAIR = np.dtype([("hash", "<u8"), ("source", "<u4")])


class CorpusError(ValueError):
    """A corpus record that cannot be read: the message names the file and line."""


def records(paths: Iterable[str], field: str = "text") -> Iterator[tuple[str, str]]:
    """(name, text) per record: a .jsonl line's `field`, a plain text file's line, an HF dataset's row
    (`hf:NAME[:SPLIT]`, from the local datasets cache only)."""
    for path in paths:
        if path.startswith("hf:"):
            yield from _hf_records(path, field)
            continue
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                if path.endswith(".jsonl"):
                    try:
                        text = json.loads(line)[field]
                    except (ValueError, KeyError, TypeError) as exc:
                        raise CorpusError(f"{path}:{number}: not a JSON record with a {field!r} text field "
                                          f"({type(exc).__name__}: {exc})") from None
                    if not isinstance(text, str):
                        raise CorpusError(f"{path}:{number}: field {field!r} is {type(text).__name__}, not text")
                    yield f"{path}:{number}", text
                else:
                    yield f"{path}:{number}", line


def _hf_records(spec: str, field: str) -> Iterator[tuple[str, str]]:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    name, _, split = spec[3:].partition(":")
    try:
        data = datasets.load_dataset(name, split=split or "train", streaming=True)
    except Exception as exc:  # noqa: BLE001 - not in the cache, no such split
        raise CorpusError(f"{spec}: cannot open the dataset from the local cache: {exc}") from None
    for number, row in enumerate(data):
        if field not in row:
            raise CorpusError(f"{spec} row {number}: no {field!r} field (fields: {', '.join(row)})")
        yield f"{spec}#{number}", str(row[field])


@dataclass
class BuildStats:
    records: int
    ngrams: int  # n-grams read, repeats included
    unique: int
    bytes: int  # of the index on disk


def build(paths: list[str], out: Path, *, n: int = N, field: str = "text", chunk: int = DEFAULT_CHUNK,
          buckets: int = DEFAULT_BUCKETS) -> BuildStats:
    """Index the corpus into `out` (created; an existing index there is replaced only when complete)."""
    if chunk < 1 or not 1 <= buckets <= 65536:
        raise ValueError(f"chunk must be >= 1 and buckets 1 to 65536, got {chunk} and {buckets}")
    out.mkdir(parents=True, exist_ok=True)
    shift = np.uint64(64 - max(1, (buckets - 1).bit_length()))
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as scratch:
        # unbuffered: each write is a whole block already, and 256 buffers would outweigh a small chunk
        files = [open(Path(scratch) / f"{b:05d}.pairs", "wb", buffering=0) for b in range(buckets)]
        pending = np.empty(chunk, dtype=PAIR)
        filled = n_records = n_grams = 0
        with open(out / "sources.txt.tmp", "w", encoding="utf-8") as names:
            for source, (name, text) in enumerate(records(paths, field)):
                names.write(name.replace("\n", " ") + "\n")
                n_records += 1
                values = hashes(text, n)
                n_grams += len(values)
                while values:
                    taken, values = values[:chunk - filled], values[chunk - filled:]
                    pending["hash"][filled:filled + len(taken)] = taken
                    pending["source"][filled:filled + len(taken)] = source
                    filled += len(taken)
                    if filled == chunk:
                        _spread(pending, files, shift, buckets)
                        filled = 0
            _spread(pending[:filled], files, shift, buckets)
        for handle in files:
            handle.close()
        unique = _sort_buckets(Path(scratch), buckets, out)
    os.replace(out / "sources.txt.tmp", out / "sources.txt")
    meta = {"format": FORMAT, "n": n, "normalisation": "lm-eval Janitor (ASCII lowercase, punctuation deleted, "
            "whitespace split)", "hash": "blake2b-64", "records": n_records, "ngrams": n_grams, "unique": unique,
            "corpus": [str(p) for p in paths], "field": field}
    (out / "index.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    return BuildStats(n_records, n_grams, unique, size)


def _spread(pairs: np.ndarray, files: list, shift, buckets: int) -> None:
    """Append the pairs to their buckets' files (bucket = the hash's top bits)."""
    if not len(pairs):
        return
    bucket = (pairs["hash"] >> shift).astype(np.int64) % buckets
    order = np.argsort(bucket, kind="stable")
    ordered, keys = pairs[order], bucket[order]
    edges = np.searchsorted(keys, np.arange(buckets + 1))
    for b in range(buckets):
        if edges[b] < edges[b + 1]:
            ordered[edges[b]:edges[b + 1]].tofile(files[b])


def _sort_buckets(scratch: Path, buckets: int, out: Path) -> int:
    """Each bucket sorted by hash (a hash's first source kept), appended in bucket order: the global order."""
    unique = 0
    with open(out / "hashes.u64.tmp", "wb") as hash_file, open(out / "sources.u32.tmp", "wb") as source_file:
        for b in range(buckets):
            path = scratch / f"{b:05d}.pairs"
            pairs = np.fromfile(path, dtype=PAIR)
            path.unlink()
            if not len(pairs):
                continue
            pairs = pairs[np.lexsort((pairs["source"], pairs["hash"]))]
            first = np.ones(len(pairs), dtype=bool)
            first[1:] = pairs["hash"][1:] != pairs["hash"][:-1]
            kept = pairs[first]
            kept["hash"].tofile(hash_file)
            kept["source"].tofile(source_file)
            unique += len(kept)
            del pairs, kept, first
    os.replace(out / "hashes.u64.tmp", out / "hashes.u64")
    os.replace(out / "sources.u32.tmp", out / "sources.u32")
    return unique


@dataclass(frozen=True)
class Overlap:
    """An item's n-grams found in the corpus: how many of how many, and the record holding most of them."""

    shared: int
    total: int
    source: str | None  # `file:line` of the corpus record that shares the most n-grams with the item

    @property
    def share(self) -> float:
        return self.shared / self.total if self.total else 0.0


class OverlapIndex:
    """A built index, memory-mapped: lookups read a few pages each."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        try:
            self.meta = json.loads((self.directory / "index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorpusError(f"{self.directory}: not an n-gram index (build one with `modeleval contamination "
                              f"index`): {exc}") from None
        self.n = int(self.meta["n"])
        count = int(self.meta["unique"])
        self.hashes = np.memmap(self.directory / "hashes.u64", dtype="<u8", mode="r") if count else np.zeros(0, "<u8")
        self.sources = np.memmap(self.directory / "sources.u32", dtype="<u4", mode="r") if count else np.zeros(0, "<u4")
        self._names: list[str] | None = None

    def lookup(self, text: str) -> Overlap:
        values = np.array(hashes(text, self.n), dtype="<u8")
        if not len(values) or not len(self.hashes):
            return Overlap(0, len(values), None)
        where = np.searchsorted(self.hashes, values)
        found = where < len(self.hashes)
        found[found] = self.hashes[where[found]] == values[found]
        if not found.any():
            return Overlap(0, len(values), None)
        ids, counts = np.unique(np.asarray(self.sources[where[found]]), return_counts=True)
        return Overlap(int(found.sum()), len(values), self.name(int(ids[np.argmax(counts)])))

    def name(self, source: int) -> str:
        if self._names is None:
            self._names = (self.directory / "sources.txt").read_text(encoding="utf-8").splitlines()
        return self._names[source]
