"""The contamination audit configuration: the spec's audit-suite JSON, checked, applied and recorded.

It pins what makes an audit reproducible: the checkpoint by content hash (a mutable name is refused,
as the spec warns), the dataset sample, the perturbation (variants per item, distance window,
strategy), the scoring thresholds and the governance rules. `--eval-audit=FILE` applies it to the
suite named by `dataset_config.benchmark_name`; the file's text and hash are stored with the run.
Unknown keys are errors, so a typo cannot quietly leave a default in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

_HASH = re.compile(r"^sha256:[0-9a-f]{8,64}$")
SECTIONS = {
    "model_config": {"model_id", "model_version", "endpoint"},
    "dataset_config": {"benchmark_name", "dataset_variant", "dataset_version", "sample_size", "sampling_seed"},
    "perturbation_config": {"num_variants_per_item", "min_semantic_distance", "max_semantic_distance",
                            "perturbation_strategy", "paraphrase_model"},
    "scoring_config": {"contamination_threshold", "significance_alpha", "max_allowed_contaminated_items_pct"},
    "governance": {"audit_owner", "review_required_above_cs", "block_deployment_above_contaminated_pct",
                   "result_retention_days", "notify_on_failure"},
}
TOP = {"$schema", "audit_suite_id", "description", *SECTIONS}
# perturbation_strategy: the suite's own generators, or built-in ones by name (a list combines them)
STRATEGIES = ("suite", "paraphrase_llm", "numeric", "shuffle_choices", "substitute_names", "reframe")


class AuditConfigError(ValueError):
    """A bad audit configuration; the message names the file and the key."""


@dataclass(frozen=True)
class AuditConfig:
    path: Path
    text: str
    audit_id: str
    model_version: str  # sha256:<hex>
    model_id: str | None
    endpoint: str | None
    suite: str
    dataset_variant: str | None
    dataset_version: str | None
    sample_size: int | None
    sampling_seed: int | None
    variants: int
    window: tuple[float, float] | None
    strategies: tuple[str, ...]
    paraphrase_model: str | None
    threshold: float
    alpha: float
    max_flagged: float  # a fraction: the stricter of the two percentages the spec gives
    owner: str | None
    review_above_cs: float | None
    retention_days: int | None
    notify: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def matches(self, model_hash: str) -> bool:
        return model_hash.startswith(self.model_version.removeprefix("sha256:"))

    def apply(self, spec):
        """The suite's spec as the audit pins it: sample, seed, variants, generators, window, scoring."""
        from .library import Perturb

        if "suite" in self.strategies and (spec.perturb is None or not spec.perturb.generators):
            raise AuditConfigError(f"{self.path}: perturbation_config.perturbation_strategy is 'suite', but suite "
                                   f"'{spec.name}' declares no perturb=modeleval.Perturb([...]); name a built-in "
                                   f"strategy instead ({', '.join(STRATEGIES[1:])})")
        generators = []
        for name in self.strategies:
            generators += list(spec.perturb.generators) if name == "suite" else [self._generator(name)]
        window = self.window or (spec.perturb.window if spec.perturb else "default")
        perturb = Perturb(tuple(generators), window=window, threshold=self.threshold, alpha=self.alpha,
                          review_above_cs=self.review_above_cs,
                          gate_on=spec.perturb.gate_on if spec.perturb else "perturbation")
        return dataclasses.replace(spec, sample=self.sample_size or spec.sample,
                                   seed=spec.seed if self.sampling_seed is None else self.sampling_seed,
                                   perturbations=self.variants, perturb=perturb)

    def _generator(self, name: str):
        from . import choices, names, numeric, reframe

        if name == "paraphrase_llm":
            from .paraphrase import ParaphraseLLM

            return ParaphraseLLM(self.paraphrase_model)
        return {"numeric": numeric.NumericGSM8K, "shuffle_choices": choices.ShuffleChoices,
                "substitute_names": names.SubstituteNames, "reframe": reframe.ReframeQuestion}[name]()

    def record(self) -> dict:
        """The runs table's audit columns."""
        return {"audit_id": self.audit_id, "audit_config": self.text, "audit_sha256": self.sha256}


def load(path: Path) -> AuditConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditConfigError(f"{path}: cannot read the audit configuration: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuditConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return parse(data, path, text)


def parse(data, path: Path, text: str = "") -> AuditConfig:
    r = _Reader(path)
    r.table(data, "", TOP)
    for section, keys in SECTIONS.items():
        r.table(data.get(section, {}), section, keys)
    model = data.get("model_config", {})
    dataset = data.get("dataset_config", {})
    pert = data.get("perturbation_config", {})
    scoring = data.get("scoring_config", {})
    gov = data.get("governance", {})
    version = r.required(model, "model_config", "model_version", str)
    if not _HASH.match(version):
        raise AuditConfigError(f"{path}: model_config.model_version must pin a content hash (sha256:<8 to 64 hex "
                               f"characters>), got {version!r}: a mutable name cannot be traced to the weights "
                               "audited")
    low = r.number(pert, "perturbation_config", "min_semantic_distance", 0, 1)
    high = r.number(pert, "perturbation_config", "max_semantic_distance", 0, 1)
    if (low is None) != (high is None):
        raise AuditConfigError(f"{path}: perturbation_config: give both min_semantic_distance and "
                               "max_semantic_distance, or neither (the suite's window)")
    if low is not None and low >= high:
        raise AuditConfigError(f"{path}: perturbation_config: min_semantic_distance {low} must be below "
                               f"max_semantic_distance {high}")
    strategies = pert.get("perturbation_strategy", "suite")
    strategies = (strategies,) if isinstance(strategies, str) else strategies
    if not isinstance(strategies, (list, tuple)) or not strategies or \
            any(s not in STRATEGIES for s in strategies):
        raise AuditConfigError(f"{path}: perturbation_config.perturbation_strategy must be one of "
                               f"{', '.join(STRATEGIES)} or a list of them, got {pert.get('perturbation_strategy')!r}")
    paraphrase = r.optional(pert, "perturbation_config", "paraphrase_model", str)
    if "paraphrase_llm" in strategies and not paraphrase:
        raise AuditConfigError(f"{path}: perturbation_config.paraphrase_model is required by the paraphrase_llm "
                               "strategy (any model reference --model takes, e.g. 'embedded')")
    pcts = [p for p in (r.number(scoring, "scoring_config", "max_allowed_contaminated_items_pct", 0, 100),
                        r.number(gov, "governance", "block_deployment_above_contaminated_pct", 0, 100))
            if p is not None]
    notify = gov.get("notify_on_failure", [])
    if not isinstance(notify, list) or not all(isinstance(n, str) for n in notify):
        raise AuditConfigError(f"{path}: governance.notify_on_failure must be a list of strings, got {notify!r}")
    return AuditConfig(
        path=path, text=text or json.dumps(data, indent=2, sort_keys=True),
        audit_id=r.required(data, "", "audit_suite_id", str), model_version=version.lower(),
        model_id=r.optional(model, "model_config", "model_id", str),
        endpoint=r.optional(model, "model_config", "endpoint", str),
        suite=r.required(dataset, "dataset_config", "benchmark_name", str),
        dataset_variant=r.optional(dataset, "dataset_config", "dataset_variant", str),
        dataset_version=r.optional(dataset, "dataset_config", "dataset_version", str),
        sample_size=r.whole(dataset, "dataset_config", "sample_size", 1),
        sampling_seed=r.whole(dataset, "dataset_config", "sampling_seed", 0),
        variants=r.whole(pert, "perturbation_config", "num_variants_per_item", 1) or 3,
        window=(low, high) if low is not None else None, strategies=tuple(strategies), paraphrase_model=paraphrase,
        threshold=_or(r.number(scoring, "scoring_config", "contamination_threshold", 0, 1), 0.10),
        alpha=_or(r.number(scoring, "scoring_config", "significance_alpha", 0, 1), 0.05),
        max_flagged=min(pcts) / 100 if pcts else 0.05,
        owner=r.optional(gov, "governance", "audit_owner", str),
        review_above_cs=r.number(gov, "governance", "review_required_above_cs", 0, None),
        retention_days=r.whole(gov, "governance", "result_retention_days", 1), notify=tuple(notify))


class _Reader:
    """Typed reads that name the file and the key on error."""

    def __init__(self, path: Path):
        self.path = path

    def _where(self, section: str, key: str) -> str:
        return f"{self.path}: {section + '.' if section else ''}{key}"

    def table(self, value, section: str, keys: set) -> None:
        if not isinstance(value, dict):
            raise AuditConfigError(f"{self.path}: {section or 'the file'} must be a JSON object, got "
                                   f"{type(value).__name__}")
        unknown = sorted(set(value) - keys)
        if unknown:
            raise AuditConfigError(f"{self.path}: unknown key{'s' if len(unknown) > 1 else ''} "
                                   f"{', '.join(repr(u) for u in unknown)} in {section or 'the top level'} "
                                   f"(known: {', '.join(sorted(keys))})")

    def optional(self, table: dict, section: str, key: str, kind):
        value = table.get(key)
        if value is not None and not isinstance(value, kind):
            raise AuditConfigError(f"{self._where(section, key)} must be a {kind.__name__}, got {value!r}")
        return value

    def required(self, table: dict, section: str, key: str, kind):
        value = self.optional(table, section, key, kind)
        if not value:
            raise AuditConfigError(f"{self._where(section, key)} is required")
        return value

    def number(self, table: dict, section: str, key: str, low: float, high: float | None) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or \
                (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise AuditConfigError(f"{self._where(section, key)} must be a number {bounds}, got {value!r}")
        return float(value)

    def whole(self, table: dict, section: str, key: str, low: int) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise AuditConfigError(f"{self._where(section, key)} must be a whole number >= {low}, got {value!r}")
        return value


def _or(value, default):
    return default if value is None else value
