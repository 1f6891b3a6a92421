"""One table of evidence per item: the perturbation test, the membership score and the training-data overlap,
and the combined verdict the docs define (docs/contamination.md).

Why three instruments: a drop on variants can be prompt sensitivity rather than memory, and an item answered
wrongly in both forms says nothing; a likelihood score and an n-gram hit fail in other ways. The combined
verdict asks for the perturbation flag and one other instrument, so one instrument's false alarm is not
enough on its own:

- `contaminated`: flagged by the perturbation test, and corroborated (membership percentile at or above the
  suite's `flag_percentile`, or at least `min_shared` n-grams shared with the indexed corpus);
- `perturbation only`: flagged by the perturbation test alone;
- `in corpus`: not flagged, but its n-grams are in the corpus (a data-governance finding, not a verdict
  on memory);
- `clean`: none of these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from . import membership
from .overlap import OverlapIndex

Verdict = Literal["contaminated", "perturbation only", "in corpus", "clean"]
VERDICTS: tuple[Verdict, ...] = ("contaminated", "perturbation only", "in corpus", "clean")
MIN_SHARED = 1  # lm-eval's decontamination: one shared 13-gram marks an item


def combined_verdict(perturbation_flag: bool, membership_percentile: float | None, overlap_shared: int | None,
                     flag_percentile: float = membership.FLAG_PERCENTILE, min_shared: int = MIN_SHARED) -> Verdict:
    """The rule above; an instrument that was not run (None) corroborates nothing."""
    member = membership_percentile is not None and membership_percentile >= flag_percentile
    in_corpus = overlap_shared is not None and overlap_shared >= min_shared
    if perturbation_flag:
        return "contaminated" if member or in_corpus else "perturbation only"
    return "in corpus" if in_corpus else "clean"


@dataclass(frozen=True)
class Evidence:
    """One canonical item's row."""

    item: str
    cs: float | None
    p_value: float | None
    flagged: bool  # by the perturbation test
    min_k: float | None
    min_k_pp: float | None
    membership_pct: float | None  # of Min-K%++ (Min-K% where the engine cannot), against `membership_basis`
    membership_basis: str | None  # "variants (10)", "reference (200)", or why there is no score
    overlap_shared: int | None
    overlap_total: int | None
    overlap_source: str | None
    verdict: Verdict

    def record(self) -> dict:
        return asdict(self)


def gather(items: list, texts: dict[str, dict[int, str]], config: dict, predictor, root: Path) -> list[Evidence]:
    """The evidence rows of a suite. `items`: its score_suite ItemScores; `texts`: source -> variant -> the text
    scored (0 the canonical); `config`: the payload's evidence settings; `predictor`: the model's (None when the
    run has no model: membership is then not scored)."""
    scored = {i.item: i for i in items}
    values, basis = _membership(texts, config, predictor, root)
    overlaps = _overlaps(texts, config.get("overlap_index"), root)
    rows = []
    flag_percentile = config.get("flag_percentile", membership.FLAG_PERCENTILE)
    for source in sorted(texts):
        if 0 not in texts[source]:
            continue
        item = scored.get(source)
        mine = values.get((source, 0), {})
        pct, why = _percentile(source, texts, values, basis)
        hit = overlaps.get(source)
        flagged = bool(item and item.flagged)
        rows.append(Evidence(source, item.cs if item else None, item.p_value if item else None, flagged,
                             mine.get("min_k"), mine.get("min_k_pp"), pct, why,
                             hit.shared if hit else None, hit.total if hit else None, hit.source if hit else None,
                             combined_verdict(flagged, pct, hit.shared if hit else None, flag_percentile)))
    return rows


def _membership(texts, config: dict, predictor, root: Path) -> tuple[dict, str | list]:
    """Scores per (source, variant) and, with a held-out reference, the reference's statistic values; or the
    reason there are none (as the basis)."""
    if not config.get("membership"):
        return {}, "not requested"
    if predictor is None:
        return {}, "no model in this process"
    keys = [(source, variant) for source in sorted(texts) for variant in sorted(texts[source])]
    reference = []
    if config.get("reference"):
        path = Path(config["reference"])
        reference = membership.read_reference(path if path.is_absolute() else root / path,
                                              config.get("reference_field", "text"))
    from ..engines.base import EngineError

    try:
        predictions = predictor.token_scores([texts[s][v] for s, v in keys] + reference)
    except EngineError as exc:
        return {}, f"not scored: {exc}"
    k = config.get("k", membership.DEFAULT_K)
    values: dict = {}
    for key, prediction in zip(keys + [None] * len(reference), predictions):
        if prediction.error is None and prediction.value.logprobs:
            values[key if key else ("reference", len(values))] = membership.scores(prediction.value, k)
    held_out = [statistic(v) for key, v in values.items() if key[0] == "reference"]
    return values, (held_out if reference else "variants")


def statistic(scores: dict) -> float:
    """The score a percentile is taken of: Min-K%++ where the engine gave it, else Min-K%."""
    return scores["min_k_pp"] if scores.get("min_k_pp") is not None else scores["min_k"]


def _percentile(source: str, texts, values: dict, basis) -> tuple[float | None, str]:
    mine = values.get((source, 0))
    if isinstance(basis, str) and basis != "variants":
        return None, basis
    if mine is None:
        return None, "the canonical text could not be scored"
    if isinstance(basis, list):
        return membership.percentile(statistic(mine), basis), f"reference ({len(basis)})"
    others = [statistic(values[(source, v)]) for v in sorted(texts[source]) if v and (source, v) in values]
    if not others:
        return None, "no scored variant"
    return membership.percentile(statistic(mine), others), f"variants ({len(others)})"


def _overlaps(texts, index_dir: str | None, root: Path) -> dict:
    if not index_dir:
        return {}
    path = Path(index_dir)
    index = OverlapIndex(path if path.is_absolute() else root / path)
    return {source: index.lookup(by_variant[0]) for source, by_variant in texts.items() if 0 in by_variant}
