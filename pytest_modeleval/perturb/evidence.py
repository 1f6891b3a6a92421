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
- `membership only`: not flagged and not in the corpus, but its membership percentile is at or above
  `flag_percentile` against a reference large enough for that to mean something: a clean item tops n reference
  texts 1 time in n + 1, so it takes n >= 19 at 0.95 (a held-out file; a handful of variants is too few). A lead
  to look at, one instrument alone, not a verdict;
- `clean`: none of these.

A suite without variants has no perturbation test: its items can only be `in corpus`, `membership only` or
`clean`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from . import membership

Verdict = Literal["contaminated", "perturbation only", "in corpus", "membership only", "clean"]
VERDICTS: tuple[Verdict, ...] = ("contaminated", "perturbation only", "in corpus", "membership only", "clean")
MIN_SHARED = 1  # lm-eval's decontamination: one shared 13-gram marks an item


def combined_verdict(perturbation_flag: bool, membership_percentile: float | None, overlap_shared: int | None,
                     flag_percentile: float = membership.FLAG_PERCENTILE, min_shared: int = MIN_SHARED,
                     reference_n: int | None = None) -> Verdict:
    """The rule above; an instrument that was not run (None) corroborates nothing. `reference_n`: how many texts
    the percentile was taken against (membership alone marks an item only when enough_reference)."""
    member = membership_percentile is not None and membership_percentile >= flag_percentile
    in_corpus = overlap_shared is not None and overlap_shared >= min_shared
    if perturbation_flag:
        return "contaminated" if member or in_corpus else "perturbation only"
    if in_corpus:
        return "in corpus"
    return "membership only" if member and enough_reference(reference_n, flag_percentile) else "clean"


def enough_reference(n: int | None, flag_percentile: float) -> bool:
    """Whether a percentile against n texts can stand alone at `flag_percentile`."""
    return n is not None and n >= min_reference(flag_percentile)


def min_reference(flag_percentile: float) -> float:
    """The fewest reference texts for which a clean item's chance of topping them all, 1 / (n + 1), is within the
    1 - flag_percentile the threshold promises: 19 at 0.95 (none suffice at 1.0)."""
    import math

    return math.inf if flag_percentile >= 1 else math.ceil(1 / (1 - flag_percentile) - 1 - 1e-9)


def settings(spec) -> dict | None:
    """What the controller needs to build a suite's evidence table (each outcome payload carries it; the suites
    table records it, so `modeleval gate` reads the table again): None when the suite asks for no instrument."""
    if spec.membership is None and spec.overlap_index is None:
        return None
    m = spec.membership if spec.membership is not None else membership.Membership()
    return {"membership": spec.membership is not None, "k": m.k, "reference": m.reference,
            "reference_field": m.reference_field, "flag_percentile": m.flag_percentile,
            "overlap_index": spec.overlap_index,
            "gate_on": getattr(spec.perturb, "gate_on", "perturbation") if spec.perturbations else "perturbation"}


def scored_text(spec, fields) -> str:
    """The text both instruments read of an item (or of a variant, whose fields are rewritten)."""
    template = spec.membership if spec.membership is not None else membership.Membership()
    return template.scored_text(fields)


def check(spec, items: list, root: Path) -> None:
    """At collection, before anything is computed: the instruments can read what they name. An item without a
    field the template names, an unreadable reference file (file and line) or a directory that is not an index
    is a ValueError."""
    config = settings(spec)
    if config is None:
        return
    for item in items:
        try:
            scored_text(spec, item.fields)
        except ValueError as exc:
            raise ValueError(f"item {item.id}: {exc}") from None
    if config["reference"]:
        membership.read_reference(_under(config["reference"], root), config["reference_field"])
    if config["overlap_index"]:
        from .overlap import OverlapIndex  # numpy, only for a suite that names an index

        OverlapIndex(_under(config["overlap_index"], root))


def _under(path: str, root: Path) -> Path:
    """A path the suite names, relative to the rootdir unless absolute."""
    return Path(path) if Path(path).is_absolute() else root / path


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
    membership_n: int | None  # the texts the percentile was taken against (10, 200 above)
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
    for source in sorted(texts):
        if 0 not in texts[source]:
            continue
        mine = values.get((source, 0), {})
        pct, why, n = _percentile(source, texts, values, basis)
        hit = overlaps.get(source)
        rows.append(_row(source, scored.get(source), config, {
            "min_k": mine.get("min_k"), "min_k_pp": mine.get("min_k_pp"), "membership_pct": pct,
            "membership_basis": why, "membership_n": n, "overlap_shared": hit.shared if hit else None,
            "overlap_total": hit.total if hit else None, "overlap_source": hit.source if hit else None}))
    return rows


def rebuild(items: list, recorded: dict[str, dict], config: dict) -> list[Evidence]:
    """A recorded run's evidence rows again (`modeleval gate`, a run group's union): each item's recorded
    instrument figures (source -> its `contamination_items` row) beside the perturbation test scored anew, so
    the combined verdict follows the new flags and nothing needs the model."""
    scored = {i.item: i for i in items}
    return [_row(source, scored.get(source), config, {name: recorded[source][name] for name in INSTRUMENTS})
            for source in sorted(recorded)]


INSTRUMENTS = ("min_k", "min_k_pp", "membership_pct", "membership_basis", "membership_n", "overlap_shared", "overlap_total",
               "overlap_source")  # an Evidence's fields that are measured, not derived


def _row(source: str, item, config: dict, instruments: dict) -> Evidence:
    """One row: the item's perturbation score (None when the suite has no variants), the instruments, the verdict."""
    flagged = bool(item and item.flagged)
    verdict = combined_verdict(flagged, instruments["membership_pct"], instruments["overlap_shared"],
                               config.get("flag_percentile", membership.FLAG_PERCENTILE),
                               reference_n=instruments["membership_n"])
    return Evidence(source, item.cs if item else None, item.p_value if item else None, flagged, verdict=verdict,
                    **instruments)


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
        reference = membership.read_reference(_under(config["reference"], root), config.get("reference_field", "text"))
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


def _percentile(source: str, texts, values: dict, basis) -> tuple[float | None, str, int | None]:
    """The canonical text's percentile, what it is of, and against how many texts; or why there is none."""
    mine = values.get((source, 0))
    if isinstance(basis, str) and basis != "variants":
        return None, basis, None
    if mine is None:
        return None, "the canonical text could not be scored", None
    if isinstance(basis, list):
        return membership.percentile(statistic(mine), basis), f"reference ({len(basis)})", len(basis)
    others = [statistic(values[(source, v)]) for v in sorted(texts[source]) if v and (source, v) in values]
    if not others:
        return None, "no scored variant", None
    return membership.percentile(statistic(mine), others), f"variants ({len(others)})", len(others)


def _overlaps(texts, index_dir: str | None, root: Path) -> dict:
    if not index_dir:
        return {}
    from .overlap import OverlapIndex

    index = OverlapIndex(_under(index_dir, root))
    return {source: index.lookup(by_variant[0]) for source, by_variant in texts.items() if 0 in by_variant}
