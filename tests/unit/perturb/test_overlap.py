"""Training-data overlap (issue 31): lm-eval's normalisation, the on-disk n-gram index built in bounded memory
(a corpus whose n-grams do not fit the memory the build is given), lookups naming the source, the command."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from pytest_modeleval.cli import main
from pytest_modeleval.perturb import ngrams
from pytest_modeleval.perturb.overlap import CorpusError, OverlapIndex, build

WORDS = [f"w{i}" for i in range(5000)]


def corpus_lines(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(count)]


def test_normalisation_is_lm_evals_janitor():
    assert ngrams.normalise("Hello, World!  It's 4.5 (ok)") == ["hello", "world", "its", "45", "ok"]
    assert list(ngrams.ngrams("a b c d", 3)) == ["a b c", "b c d"]
    assert list(ngrams.ngrams("too short", 13)) == []


def test_index_built_in_bounded_memory_names_the_source(tmp_path):
    lines = corpus_lines(4000)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    n_grams = 4000 * (40 - 13 + 1)
    in_memory = 12 * n_grams  # the (hash, source) pairs the build would hold without its chunks and buckets
    tracemalloc.start()
    try:
        stats = build([str(corpus)], tmp_path / "index", chunk=2000, buckets=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.ngrams == n_grams and stats.records == 4000
    assert peak < in_memory / 4, f"peak {peak:,} bytes for {in_memory:,} bytes of pairs"
    index = OverlapIndex(tmp_path / "index")
    assert len(index.hashes) == stats.unique and list(index.hashes) == sorted(index.hashes)
    # an item quoting record 1234 (line 1235) with different case and punctuation, and an item never seen
    quoted = "Question: " + " ".join(w.upper() + "," for w in lines[1234].split()[5:25]) + " what next?"
    hit = index.lookup(quoted)
    assert hit.source == f"{corpus}:1235" and hit.shared == 20 - 13 + 1
    fresh = index.lookup(" ".join(f"new{i}" for i in range(30)))
    assert fresh.shared == 0 and fresh.source is None and fresh.total == 18


def test_a_bad_record_is_named_by_file_and_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"body": "no text"}) + "\n")
    with pytest.raises(CorpusError, match=r"c.jsonl:2: not a JSON record with a 'text' text field"):
        build([str(corpus)], tmp_path / "index")


def test_the_command(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": line}) + "\n" for line in corpus_lines(50)))
    assert main(["contamination", "index", str(corpus), "--out", str(tmp_path / "idx")]) == 0
    assert "50 records, 1,400 13-grams" in capsys.readouterr().out
    assert main(["contamination", "index", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x")]) == 2
    assert "corpus file" in capsys.readouterr().err
