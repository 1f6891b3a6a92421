"""The variant library draws each item's candidates once: a rerun reads them back, an item whose
candidates were all rejected is not drawn again, and a larger perturbations=N draws only what is new.

The generator and the embedder are stand-ins (the unit under test is the library's bookkeeping);
the results DB is a real SQLite file. The real generators and MiniLM run in test_perturb_suite.py.
"""

from __future__ import annotations

import sqlite3

from pytest_modeleval.items import Item
from pytest_modeleval.perturb.library import Perturb, variants_for
from pytest_modeleval.perturb.variant import GeneratorError, Variant


class Counting:
    """Candidates 'q 0', 'q 1', ... in a fixed order (as every real generator keeps), counting draws.
    Items whose question holds 'none' have no variant at all, those holding 'few' only one."""

    name, version, surface = "counting", 1, False

    def __init__(self, name: str = "counting"):
        self.name = name
        self.draws: list[tuple[str, int]] = []

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        self.draws.append((fields["question"], n))
        if "none" in fields["question"]:
            raise GeneratorError("nothing to vary")
        return [Variant(f"{fields['question']} {i}", None, self.name, self.version, seed,
                        {**fields, "question": f"{fields['question']} {i}"})
                for i in range(1 if "few" in fields["question"] else n)]


class Distances:
    """Accepts candidates of questions holding 'ok' (distance 0.3, inside the default window) and
    rejects the others as near-copies (0.01); counts the texts it embeds."""

    def __init__(self):
        self.embedded = 0

    def distances(self, originals: list[str], texts: list[str]) -> list[float]:
        self.embedded += len(texts)
        return [0.3 if "ok" in text else 0.01 for text in texts]


def items(*questions: str) -> list[Item]:
    return [Item("s", i, {"question": q}) for i, q in enumerate(questions)]


def draw(db, generators, n: int, questions=("ok a", "bad b", "none c")):
    embedder = Distances()
    found = variants_for(db, "s", items(*questions), Perturb(tuple(generators)), n, seed=1, embedder=embedder)
    return {item_id: [row["text"] for row in rows] for item_id, rows in found.items()}, embedder


def test_a_rerun_draws_nothing_not_even_for_items_whose_candidates_were_all_rejected(tmp_path):
    db, generator = tmp_path / "results.sqlite", Counting()
    first, _ = draw(db, [generator], 2)
    assert first == {"s-0000-p0": ["ok a 0", "ok a 1"], "s-0001-p0": [], "s-0002-p0": []}
    assert [q for q, _ in generator.draws] == ["ok a", "bad b", "none c"]
    again, embedder = draw(db, [generator], 2)
    assert again == first and len(generator.draws) == 3 and embedder.embedded == 0
    with sqlite3.connect(db) as conn:
        reasons = dict(conn.execute("SELECT source_id || ':' || idx, coalesce(reason, '') FROM variants"))
    assert reasons["s-0001-p0:0"].endswith("a near-copy") and reasons["s-0002-p0:0"] == "generator error: nothing to vary"


def test_a_generator_with_fewer_candidates_than_asked_is_not_asked_again(tmp_path):
    db, generator = tmp_path / "results.sqlite", Counting()
    first, _ = draw(db, [generator], 3, questions=("ok few",))
    assert first == {"s-0000-p0": ["ok few 0"]}
    again, embedder = draw(db, [generator], 3, questions=("ok few",))
    assert again == first and len(generator.draws) == 1 and embedder.embedded == 0


def test_a_larger_n_draws_again_only_where_too_few_were_kept_and_keeps_the_first_draw(tmp_path):
    db, generator = tmp_path / "results.sqlite", Counting()
    draw(db, [generator], 1)
    more, _ = draw(db, [generator], 3)
    assert more["s-0000-p0"] == ["ok a 0", "ok a 1", "ok a 2"]
    assert generator.draws[3:] == [("ok a", 6), ("bad b", 6)], "the generator that said it has none is not asked"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT text) FROM variants WHERE source_id = 's-0000-p0'").fetchone()
    assert rows == (6, 6), "the first draw's rows are kept, the larger draw adds only what follows them"
    fewer, _ = draw(db, [generator], 2)
    assert fewer["s-0000-p0"] == ["ok a 0", "ok a 1"] and len(generator.draws) == 5


def test_a_new_generator_draws_for_every_item_and_the_old_one_for_none(tmp_path):
    db, old, new = tmp_path / "results.sqlite", Counting(), Counting("other")
    draw(db, [old], 2)
    both, _ = draw(db, [old, new], 2)
    assert len(old.draws) == 3 and [q for q, _ in new.draws] == ["ok a", "bad b", "none c"]
    assert both["s-0000-p0"] == ["ok a 0", "ok a 1"], "the first generator's variants come first"
