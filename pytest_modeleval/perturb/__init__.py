"""Semantic perturbation: equivalent variants of benchmark items, to tell skill from memory.

A model that memorized a benchmark scores lower on variants that keep each item's meaning.

Variant generators (pure Python, deterministic per seed):

* `variant`: the Variant record, GeneratorError and the generator protocol.
* `numeric`: GSM8K problems re-instantiated with new numbers, answers recomputed by replaying
  the solution's calculator annotations (`chain` traces and replays them, `arith` is the safe
  calculator, `numbers` finds and writes numbers in prose).
* `choices`: multiple-choice items with their choices permuted and the answer remapped.
* `names`: person names swapped consistently across question and answer.
* `reframe`: the question's frame reworded by meaning-preserving templates.

The contamination audit built on them (embedding, screening, the variant library, scoring)
lives in the other modules of this package.
"""
