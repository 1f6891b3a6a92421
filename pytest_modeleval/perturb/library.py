"""The variant library: every candidate variant of a suite's items, kept in the results DB.

Generated once per (suite, source item content, generator and version, seed) and read back on
later runs, so a checkpoint is always scored on the same variants and comparisons over time
stay paired. Rejected candidates are kept with their distance and reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CANDIDATES_PER_VARIANT = 2  # candidates drawn per wanted variant, so a few rejections still leave n


@dataclass(frozen=True)
class Perturb:
    """What `perturbations=N` draws from (generators, tried in order, and the distance window), and how
    the contamination score is read: an item's CS above `threshold` with p < `alpha` flags it, and a
    suite CS above `review_above_cs` marks the run for manual review.

    `gate_on="combined"` makes the contamination gate count the per-item evidence table's combined verdict
    (perturb/evidence.py; the suite's `membership` or `overlap_index` corroborate) instead of the flag alone."""

    generators: tuple
    window: object = "default"  # a name from screen.WINDOWS or (low, high)
    threshold: float = 0.10
    alpha: float = 0.05
    review_above_cs: float | None = None
    gate_on: str = "perturbation"  # or "combined"

    def __post_init__(self):
        from .screen import window

        window(self.window)
        if not self.generators:
            raise ValueError("Perturb needs at least one generator")
        object.__setattr__(self, "generators", tuple(self.generators))
        for name in ("threshold", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"Perturb {name} must be a number between 0 and 1, got {value!r}")
        if self.review_above_cs is not None and (isinstance(self.review_above_cs, bool)
                                                 or not isinstance(self.review_above_cs, (int, float))):
            raise ValueError(f"Perturb review_above_cs must be a number, got {self.review_above_cs!r}")
        if self.gate_on not in ("perturbation", "combined"):
            raise ValueError(f"Perturb gate_on must be 'perturbation' or 'combined', got {self.gate_on!r}")

    def meta(self) -> dict:
        """What the suites table records about it."""
        from .screen import window

        low, high = window(self.window)
        return {"variant_window": f"{low:g}-{high:g}", "cs_threshold": self.threshold, "cs_alpha": self.alpha,
                "review_above_cs": self.review_above_cs}


def source_text(generator, fields: dict, variant) -> str:
    """The original's counterpart of a variant's text: the generator's rendering of the original when it
    has one (multiple choice: question and lettered options), else the field the variant rewrote."""
    render = getattr(generator, "prompt", None)
    if callable(render):
        return render(fields)
    for key, value in variant.fields.items():
        if value == variant.text and key in fields:
            return str(fields[key])
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)


def variants_for(db: Path | str, suite: str, items: list, perturb: Perturb, n: int, seed: int,
                 embedder=None, settings=None) -> dict[str, list[dict]]:
    """item id -> up to n accepted variant rows (fields, text, distance, generator), generated once.

    A generator with `bind(settings)` (one that runs a model) is bound first; one with
    `variants_many(rows, n, seed)` draws every missing item's candidates in one batch."""
    from ..results.store import Store
    from .screen import screen, window
    from .variant import fields_hash

    for generator in perturb.generators:
        if callable(getattr(generator, "bind", None)):
            generator.bind(settings)
    store = Store(db)
    try:
        todo = []  # (generator, the items it still has to draw for)
        for generator in perturb.generators:
            drawn = _drawn(store, suite, generator, seed)
            todo.append((generator, [item for item in items
                                     if not _enough(drawn.get(fields_hash(dict(item.fields))), n)]))
        if any(pending for _, pending in todo):
            from .embed import Embedder

            embedder = embedder or Embedder()
            candidates = []  # (item, generator, index, variant or error)
            for generator, pending in todo:
                if not pending:
                    continue
                for item, drawn in zip(pending, _draw(generator, pending, CANDIDATES_PER_VARIANT * n, seed)):
                    if isinstance(drawn, Exception):
                        candidates.append((item, generator, 0, drawn))
                    else:
                        candidates += [(item, generator, i, v) for i, v in enumerate(drawn)]
            real = [c for c in candidates if not isinstance(c[3], Exception)]
            distances = embedder.distances([source_text(c[1], dict(c[0].fields), c[3]) for c in real],
                                           [c[3].text for c in real]) if real else []
            by_candidate = dict(zip((id(c) for c in real), distances))
            rows = []
            for c in candidates:
                item, generator, index, v = c
                base = {"suite": suite, "source_id": item.id, "source_sha256": fields_hash(dict(item.fields)),
                        "generator": generator.name, "version": generator.version, "seed": seed, "idx": index,
                        "draw_size": CANDIDATES_PER_VARIANT * n}
                if isinstance(v, Exception):
                    rows.append({**base, "accepted": 0, "reason": f"generator error: {v}"})
                    continue
                [s] = screen(source_text(generator, dict(item.fields), v), [v], [by_candidate[id(c)]],
                             window(perturb.window), surface=getattr(generator, "surface", False))
                rows.append({**base, "text": v.text, "fields": json.dumps(v.fields, sort_keys=True, default=str),
                             "answer": json.dumps(v.answer, default=str), "distance": s.distance,
                             "accepted": int(s.accepted), "reason": s.reason or None})
            store.add_variants(rows)
        found = {item.id: _stored(store, suite, fields_hash(dict(item.fields)), perturb, seed) for item in items}
        return {item_id: rows[:n] for item_id, rows in found.items()}
    finally:
        store.close()


def _draw(generator, items: list, k: int, seed: int) -> list:
    """Per item: its candidate variants, or the GeneratorError saying why it has none."""
    from .variant import GeneratorError

    rows = [dict(item.fields) for item in items]
    many = getattr(generator, "variants_many", None)
    if callable(many):
        return many(rows, k, seed)
    out = []
    for fields in rows:
        try:
            out.append(generator.variants(fields, k, seed))
        except GeneratorError as exc:
            out.append(exc)
    return out


def _drawn(store, suite: str, generator, seed: int) -> dict[str, tuple[int, int | None, bool]]:
    """Per item content hash: how many accepted variants this generator (at its version) gave, the most
    candidates it was asked for (None in libraries older than draw_size), and whether it said it has none."""
    from ..results.contamination import drawn

    return {row["source_sha256"]: (row["accepted"], row["asked"], bool(row["error"]))
            for row in drawn(store.db, suite, generator.name, generator.version, seed)}


def _enough(drawn: tuple[int, int | None, bool] | None, n: int) -> bool:
    """Whether a generator needs no new draw for an item: it has n accepted variants, or it said it has none,
    or it was already asked for as many candidates as n variants need (it may have had fewer to give).
    Drawing is deterministic and keeps its order, so a larger draw adds candidates after the stored ones,
    and the same draw again would only give, and reject, the same candidates."""
    if drawn is None:
        return False
    accepted, asked, error = drawn
    return error or accepted >= n or asked is None or asked >= CANDIDATES_PER_VARIANT * n


def _stored(store, suite: str, source_sha256: str, perturb: Perturb, seed: int) -> list[dict]:
    """The accepted variants in generator order, then draw order."""
    from ..results.contamination import accepted

    out = []
    for generator in perturb.generators:
        out += accepted(store.db, suite, source_sha256, generator.name, generator.version, seed)
    return out
