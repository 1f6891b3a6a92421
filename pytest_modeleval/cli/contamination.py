"""`modeleval contamination index CORPUS...`: the n-gram index of a training corpus, for `overlap_index=`.

The index is a sorted set of the corpus's 13-gram hashes on disk (perturb/overlap.py), normalised as
lm-eval's decontamination normalises, built in bounded memory whatever the corpus size. A perturbed suite
with `suite(..., overlap_index=DIR)` then flags each item that shares n-grams with it, naming the record.
"""

from __future__ import annotations

import time
from pathlib import Path

from .common import CLIError, command


def add_parser(sub) -> None:
    parser = sub.add_parser("contamination", help="training-data overlap: build a corpus's n-gram index")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    index = actions.add_parser("index", help="index a corpus's n-grams (text/JSONL files, hf:NAME[:SPLIT] from "
                                             "the local datasets cache)")
    index.add_argument("corpus", nargs="+", help="text files (one record a line), .jsonl files, or hf:NAME[:SPLIT]")
    index.add_argument("--out", type=Path, required=True, help="the index directory (created)")
    index.add_argument("--n", type=int, default=13, help="words per n-gram (default 13, as lm-eval)")
    index.add_argument("--field", default="text", help="the text field of JSONL records and dataset rows")
    index.add_argument("--chunk", type=int, default=1_000_000,
                       help="n-grams held in memory before they go to disk (12 bytes each)")
    index.add_argument("--buckets", type=int, default=256,
                       help="bucket files: one bucket is sorted in memory at a time (raise it for huge corpora)")
    index.set_defaults(run=run_index)


@command("contamination")
def run_index(args) -> int:
    from ..perturb.overlap import CorpusError, build

    for path in args.corpus:
        if not path.startswith("hf:") and not Path(path).is_file():
            raise CLIError(f"corpus file {path} does not exist")
    if args.n < 1:
        raise CLIError(f"--n must be >= 1, got {args.n}")
    start = time.perf_counter()
    try:
        stats = build(list(args.corpus), args.out, n=args.n, field=args.field, chunk=args.chunk,
                      buckets=args.buckets)
    except (CorpusError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    print(f"{args.out}: {stats.records:,} records, {stats.ngrams:,} {args.n}-grams, {stats.unique:,} distinct; "
          f"{stats.bytes / 1e6:.1f} MB on disk, {time.perf_counter() - start:.1f} s")
    return 0
