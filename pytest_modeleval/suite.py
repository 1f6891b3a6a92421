"""The suite API: a decorator that turns a dataset into parametrized test items.

The decorator only records what the suite is; items are loaded at collection time
by the plugin, when --eval-limit and --eval-seed are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

# Why a suite's items are skipped when the run lacks what they need (the collector and the fixtures say it).
NO_MODEL_REASON = "modeleval: no model to evaluate; pass --model=REF (e.g. --model=embedded) or set model in [tool.modeleval]"
NO_JUDGE_REASON = "modeleval: this suite needs a judge; pass --judge=REF (any model reference) or set judge in [tool.modeleval]"
MARK = "modeleval_suite"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    data: Any  # a path, an hf: spec or a callable returning rows
    sample: int | None = None
    seed: int | None = None  # sampling seed; None takes --eval-seed
    id_field: str | None = None
    chat: bool = False  # apply the model's chat template to string prompts
    request: Any = None  # a declaration (modeleval.Generate, modeleval.Choices, ...) the planner runs per item
    perturbations: int = 0  # variants per item (test ids p1..pN), drawn as `perturb` says
    perturb: Any = None  # a perturb.library.Perturb
    rotate: str | None = None  # "weekly" | "monthly" | "quarterly" | "yearly": a fresh sample per period
    truncate: bool = False  # cut prompts longer than the model's window from the left and count them; else an error
    samples: int = 1  # K > 1: each item is K tests (`-s0` .. `-sK-1`), one sampled completion each
    membership: Any = None  # a perturb.membership.Membership: score each item's text (Min-K%, Min-K%++)
    overlap_index: str | None = None  # a `modeleval contamination index` directory: look each item's n-grams up


def suite(name: str, data: Any, *, sample: int | None = None, seed: int | None = None,
          id_field: str | None = None, chat: bool = False, request: Any = None, perturbations: int = 0,
          perturb: Any = None, rotate: str | None = None, truncate: bool = False, samples: int = 1,
          membership: Any = None, overlap_index: str | None = None) -> Callable:
    """Declare a test function as an eval suite over `data`.

    The function must take an `item` argument; each selected row becomes one test
    with id `<name>-<row>-p<variant>`. `sample` draws a seeded, stable subset.
    `request` (modeleval.Generate or modeleval.Choices) declares what to ask the model
    for each item, so all items are batched before the tests read their results.
    `perturbations=N` with `perturb=modeleval.Perturb([generators])` adds up to N validated
    variants of each item as `-p1` .. `-pN` (the variant library in the results DB).
    `rotate="quarterly"` (or weekly, monthly, yearly) with `sample` draws a fresh seeded sample each period.
    A prompt longer than the model's window is an error outcome for its item; `truncate=True` cuts it from
    the left instead (as lm-eval does), and the summary and the DB count how many were cut.
    `samples=K` (with a sampled `Generate`, temperature > 0) makes each item K tests, `-s0` .. `-sK-1`, each
    with its own seed and cache entry; the gates and the summary read the item's K outcomes together
    (per-item mean, pass@k, pass^k, the flaky share).
    `membership=modeleval.Membership(...)` scores each item's own text (Min-K%, Min-K%++) and `overlap_index=DIR`
    looks its n-grams up in an indexed training corpus: the contamination evidence table (docs/contamination.md),
    on any suite; one without variants calibrates membership against `Membership(reference=FILE)`.
    """
    one_round = callable(getattr(request, "plan", None)) and callable(getattr(request, "value", None))
    if request is not None and not (one_round or callable(getattr(request, "steps", None))):
        raise TypeError(f"suite {name!r}: request must be modeleval.Generate(...), Choices(...), Pairwise(...), "
                        f"Graded(...) or Refusal(...), got {type(request).__name__}")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_.-" for c in name):
        raise ValueError(f"suite name {name!r} must be non-empty and use only letters, digits, '_', '.', '-'")
    if sample is not None and (not isinstance(sample, int) or sample <= 0):
        raise ValueError(f"suite {name!r}: sample must be a positive integer, got {sample!r}")
    if not isinstance(perturbations, int) or isinstance(perturbations, bool) or perturbations < 0:
        raise ValueError(f"suite {name!r}: perturbations must be a whole number >= 0, got {perturbations!r}")
    if perturbations and perturb is None:
        raise ValueError(f"suite {name!r}: perturbations={perturbations} needs perturb=modeleval.Perturb([...]) "
                         "to say how variants are made")
    if rotate is not None:
        from .rotation import check_schedule

        try:
            check_schedule(rotate)
        except ValueError as exc:
            raise ValueError(f"suite {name!r}: {exc}") from None
        if sample is None:
            raise ValueError(f"suite {name!r}: rotate={rotate!r} needs sample=N (each period draws N items from "
                             "the pool)")
    if not isinstance(truncate, bool):
        raise ValueError(f"suite {name!r}: truncate must be True or False, got {truncate!r}")
    _check_samples(name, samples, request, perturbations)
    _check_evidence(name, membership, overlap_index, perturbations, perturb)
    spec = SuiteSpec(name, data, sample, seed, id_field, chat, request, perturbations, perturb, rotate, truncate,
                     samples, membership, overlap_index)
    return getattr(pytest.mark, MARK)(spec)


def _check_evidence(name: str, membership: Any, overlap_index: Any, perturbations: int, perturb: Any) -> None:
    """The contamination evidence's instruments: a percentile needs something to be calibrated against, and a
    gate on the combined verdict needs an instrument to corroborate the perturbation flag."""
    if membership is not None and not callable(getattr(membership, "scored_text", None)):
        raise TypeError(f"suite {name!r}: membership must be modeleval.Membership(...), got {type(membership).__name__}")
    if overlap_index is not None and not isinstance(overlap_index, str):
        raise TypeError(f"suite {name!r}: overlap_index must be the path of a `modeleval contamination index` "
                        f"directory (a string), got {type(overlap_index).__name__}")
    if membership is not None and not perturbations and membership.reference is None:
        raise ValueError(f"suite {name!r}: membership on a suite without perturbations has no variants to calibrate "
                         "against; name a held-out file of similar text: modeleval.Membership(reference=FILE)")
    if getattr(perturb, "gate_on", None) == "combined" and membership is None and overlap_index is None:
        raise ValueError(f"suite {name!r}: Perturb(gate_on='combined') needs membership=modeleval.Membership() or "
                         "overlap_index=DIR on the suite: nothing else could corroborate a flag")


def _check_samples(name: str, samples: int, request: Any, perturbations: int) -> None:
    """samples=K repeats a sampled generation: greedy samples would be K copies of one answer."""
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"suite {name!r}: samples must be a whole number >= 1, got {samples!r}")
    if samples == 1:
        return
    temperature = getattr(request, "temperature", None)
    if not callable(getattr(request, "plan", None)) or not isinstance(temperature, (int, float)):
        raise ValueError(f"suite {name!r}: samples={samples} needs request=modeleval.Generate(..., temperature=T) "
                         f"with T > 0 (each sample is one sampled completion), got "
                         f"{type(request).__name__ if request is not None else 'no request'}")
    if temperature <= 0:
        raise ValueError(f"suite {name!r}: samples={samples} needs a sampled Generate (temperature > 0), got "
                         f"temperature={temperature!r}: greedy samples would be {samples} copies of one answer")
    if getattr(request, "samples", 1) != 1:
        raise ValueError(f"suite {name!r}: samples={samples} on the suite draws one completion per test; leave "
                         f"Generate's own samples at 1 (got samples={request.samples})")
    if perturbations:
        raise ValueError(f"suite {name!r}: samples={samples} cannot be combined with perturbations={perturbations} "
                         "(the contamination score reads one outcome per variant)")
