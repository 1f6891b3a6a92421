"""Item-level data, cut so a page loads only what it shows: chunks of a run's items, shards of prompts and variants.

- A run's items of one suite are written in chunks of about CHUNK_ITEMS rows, sorted by item id and cut
  only between source items, so an item and its variants (`-p0`, `-p1`, ...) always share a chunk.
  The run's manifest lists each chunk's first and last source item; the item page finds its chunk by
  binary search.
- Prompts repeat across runs (same item, same rendered prompt), so they are written once per suite,
  keyed by `prompt_hash`, in shards chosen by a hash of the key (`shard_of`, mirrored in dashboard.js).
- The variant library (kept and rejected candidates) is sharded the same way by source item id.
"""

from __future__ import annotations

from typing import Callable

from ..items import split_sample
from ..results import dashboard
from ..stats.inputs import source_items
from .figures import finite

CHUNK_ITEMS = 500
SHARD_KEYS = 250  # prompts or source items per shard file, about
MAX_TEXT = 20_000  # characters of a prompt or response written out; the DB keeps the whole text
PROMPT_KEY = 16  # hex digits of prompt_hash that key a prompt (64 bits: no collision among a suite's prompts)

Write = Callable[[str, object], None]


def fnv1a(key: str) -> int:
    """32-bit FNV-1a over the UTF-8 bytes: cheap, stable, and easy to mirror in JavaScript."""
    value = 0x811C9DC5
    for byte in key.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def shard_of(key: str, shards: int) -> int:
    return fnv1a(key) % shards if shards > 1 else 0


def shard_count(keys: int) -> int:
    return max(1, -(-keys // SHARD_KEYS))


def source_item(item_id: str) -> str:
    """`gsm-0003-p2` -> `gsm-0003`, `arith-0003-p0-s2` -> `arith-0003`: the source item whose variants (or
    repeated samples, a suite's samples=K) belong together on its page, the gates' clusters."""
    return source_items([item_id])[0]


def _order(row: list) -> tuple:
    """Rows of a source item: the canonical item first, then its variants, its samples by number."""
    _, sample = split_sample(row[0])
    return source_item(row[0]), row[1] or 0, -1 if sample is None else sample, row[0]


def prompt_key(prompt_hash):
    """The first PROMPT_KEY hex digits of a prompt's sha256: unique among a suite's prompts, a third of the bytes."""
    return prompt_hash[:PROMPT_KEY] if prompt_hash else None


def test_prefix(rows: list[list]) -> str | None:
    """The `<file>::<function>` of the first row's test id, when it has the usual `[<item id>]` ending."""
    test_id, item_id = rows[0][4], rows[0][0]
    if isinstance(test_id, str) and test_id.endswith(f"[{item_id}]"):
        return test_id[: -len(item_id) - 2]
    return None


def clip(text):
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT} more characters in the results database]"
    return text


def write_run_items(db, run_id: int, slugs: dict[str, str], write: Write) -> dict:
    """Write a run's item chunks; return its manifest: suite -> item count, outcome counts and chunk bounds.
    A chunk carries its source items' contamination evidence (perturb/evidence.py), keyed by source item."""
    manifest: dict[str, dict] = {}
    evidence = dashboard.evidence(db, run_id)
    rows: list[list] = []
    suite = None

    def flush_suite():
        if suite is None:
            return
        entry = manifest[suite] = {"items": len(rows), "chunks": []}
        rows.sort(key=_order)
        # a test id is nearly always `<file>::<function>[<item id>]`: write the common part once per chunk
        prefix = test_prefix(rows)
        start = 0
        while start < len(rows):
            end = min(start + CHUNK_ITEMS, len(rows))
            while end < len(rows) and source_item(rows[end][0]) == source_item(rows[end - 1][0]):
                end += 1  # never split a source item from its variants
            chunk = rows[start:end]
            counts: dict[str, int] = {}
            for r in chunk:
                counts[r[2]] = counts.get(r[2], 0) + 1
            for r in chunk:
                if prefix is not None and r[4] == f"{prefix}[{r[0]}]":
                    r[4] = None
            data = {"test_prefix": prefix, "rows": chunk}
            found = {source_item(r[0]): evidence[suite][r[0]] for r in chunk if r[0] in evidence.get(suite, {})}
            if found:
                data["evidence"] = {k: {n: finite(v) for n, v in row.items()} for k, row in found.items()}
            write(f"items/{run_id}/{slugs[suite]}/{len(entry['chunks'])}", data)
            entry["chunks"].append([source_item(chunk[0][0]), source_item(chunk[-1][0]), len(chunk), counts])
            start = end

    for (s, item_id, variant, outcome, score, test_id, prompt_hash, response, message, metrics, duration,
         variant_id) in dashboard.item_rows(db, run_id):
        if s != suite:
            flush_suite()
            suite, rows = s, []
        rows.append([item_id, variant, outcome, finite(score), test_id, prompt_key(prompt_hash),
                     clip(response), message, metrics, None if duration is None else round(duration, 3), variant_id])
    flush_suite()
    return manifest


def write_prompts(db, run_ids: list[int], slugs: dict[str, str], write: Write) -> dict[str, int]:
    """Each distinct prompt of these runs once per suite, in shards; return suite -> shard count."""
    shards: dict[str, int] = {}
    if not run_ids:
        return shards
    for suite, n in dashboard.prompt_counts(db, run_ids):
        shards[suite] = shard_count(n)
        buckets: list[dict] = [{} for _ in range(shards[suite])]
        for prompt_hash, prompt in dashboard.prompts(db, suite, run_ids):
            key = prompt_key(prompt_hash) or ""
            buckets[shard_of(key, shards[suite])][key] = clip(prompt)
        for k, bucket in enumerate(buckets):
            write(f"prompts/{slugs[suite]}/{k}", bucket)
    return shards


def write_variants(db, slugs: dict[str, str], write: Write) -> dict[str, int]:
    """The variant library per suite and source item (`gsm-0003`, as `source_item`), in shards; suite -> shard count."""
    by_suite: dict[str, dict[str, list]] = {}
    for suite, source_id, *row in dashboard.variants(db):
        by_suite.setdefault(suite, {}).setdefault(source_item(source_id), []).append(row)
    shards: dict[str, int] = {}
    for suite, sources in by_suite.items():
        if suite not in slugs:
            continue  # a library row of a suite no run recorded
        shards[suite] = shard_count(len(sources))
        buckets: list[dict] = [{} for _ in range(shards[suite])]
        for source_id, rows in sources.items():
            buckets[shard_of(source_id, shards[suite])][source_id] = rows
        for k, bucket in enumerate(buckets):
            write(f"variants/{slugs[suite]}/{k}", bucket)
    return shards
