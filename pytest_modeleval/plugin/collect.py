"""Collection of suites: items become parametrized tests; without a model they are skipped.

Always registered (suites must be collected, and skipped with a reason, even when no
model is named); kept apart from the eval session so a session without evals carries
no per-test hooks.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from ..config import Settings
from ..suite import MARK, NO_JUDGE_REASON, NO_MODEL_REASON, SuiteSpec


def in_shard(item, k: int, n: int) -> bool:
    """Whether an item falls in slice K of N: a hash of suite and item id, so the same on every machine."""
    digest = hashlib.sha256(f"{item.suite}/{item.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1



class SuiteCollector:
    def __init__(self, settings: Settings, has_model: bool, has_judge: bool = False, audit=None):
        self.settings = settings
        self.audit = audit  # perturb.audit_config.AuditConfig: pins one suite's sample, variants and scoring
        self.has_model = has_model
        self.has_judge = has_judge
        self.suite_owner: dict[str, str] = {}
        self.suite_meta: dict[str, dict] = {}  # suite -> what the runs' suites table records

    def pytest_report_header(self, config):
        if not self.has_model:
            return ["modeleval: no --model given; eval tests will be skipped"]
        return None

    def pytest_generate_tests(self, metafunc):
        marker = metafunc.definition.get_closest_marker(MARK)
        if marker is None:
            return
        spec: SuiteSpec = marker.args[0]
        nodeid = metafunc.definition.nodeid
        if "item" not in metafunc.fixturenames:
            raise pytest.Collector.CollectError(
                f"{nodeid}: suite '{spec.name}' needs an `item` argument to receive its items")
        owner = self.suite_owner.setdefault(spec.name, nodeid)
        if owner != nodeid:
            raise pytest.Collector.CollectError(
                f"{nodeid}: suite name '{spec.name}' is already used by {owner}; suite names must be unique")
        from ..items import DataError, load_items

        if self.audit is not None and self.audit.suite == spec.name:
            from ..perturb.audit_config import AuditConfigError

            try:
                spec = self.audit.apply(spec)
            except AuditConfigError as exc:
                raise pytest.Collector.CollectError(f"{nodeid}: {exc}") from None
        seed = self.settings.seed if spec.seed is None else spec.seed
        rotation = None
        if spec.rotate:
            from ..rotation import period_for, period_seed

            try:
                period = period_for(spec.name, spec.rotate, self.settings.period)
            except ValueError as exc:
                raise pytest.Collector.CollectError(f"{nodeid}: {exc}") from None
            rotation, seed = f"{spec.rotate} {period}", period_seed(seed, period)
        try:
            items, source = load_items(spec.data, suite=spec.name, base_dir=metafunc.definition.path.parent,
                                       seed=seed, sample=spec.sample, limit=self.settings.limit,
                                       id_field=spec.id_field)
        except DataError as exc:
            raise pytest.Collector.CollectError(f"suite '{spec.name}' ({nodeid}): {exc}") from None
        prepare = getattr(spec.request, "prepare", None)
        if prepare is not None:  # a declaration that plans over the whole selection (lm-eval few-shot draws)
            prepare(items)
        evidence = self._evidence(spec, items, metafunc.config.rootpath, nodeid)
        if self.settings.shard:
            items = [item for item in items if in_shard(item, *self.settings.shard)]
        if spec.perturbations and self.has_model:  # after sharding: an item's variants stay on its machine
            items = self._with_variants(spec, items, seed, nodeid)
        if spec.samples > 1:  # after sharding: an item's samples stay on its machine, and cluster there
            from ..items import with_samples

            items = with_samples(items, spec.samples)
        self.suite_meta[spec.name] = {
            "suite": spec.name, "source": source.description, "data_sha256": source.sha256,
            "n_rows": source.n_rows, "sample": spec.sample, "sample_seed": seed, "chat": int(spec.chat),
            "perturbations": spec.perturbations or None, "truncate": int(spec.truncate),
            "samples": spec.samples if spec.samples > 1 else None,
            **(spec.perturb.meta() if spec.perturbations else {}),
            "rotation": rotation,
            "audit_id": self.audit.audit_id if self.audit is not None and self.audit.suite == spec.name else None,
            "evidence": evidence,
        }
        metafunc.parametrize("item", items, ids=[item.id for item in items])

    @staticmethod
    def _evidence(spec: SuiteSpec, items: list, root, nodeid: str) -> str | None:
        """The suite's contamination evidence settings as the suites table records them (JSON), once its
        instruments are seen to read what they name: a bad reference file or index stops collection here."""
        from ..perturb import evidence

        try:
            evidence.check(spec, items, root)
        except ValueError as exc:
            raise pytest.Collector.CollectError(f"suite '{spec.name}' ({nodeid}): contamination evidence: {exc}") \
                from None
        config = evidence.settings(spec)
        return None if config is None else json.dumps(config, sort_keys=True)

    def _with_variants(self, spec: SuiteSpec, items: list, seed: int, nodeid: str) -> list:
        """Each item followed by its accepted variants from the variant library, as -p1, -p2, ..."""
        import dataclasses
        from types import MappingProxyType

        from ..items import DataError
        from ..modelref import ModelRefError
        from ..perturb.library import variants_for

        try:
            found = variants_for(self.settings.db, spec.name, items, spec.perturb, spec.perturbations, seed,
                                 settings=self.settings)
        except (DataError, ValueError, OSError, ModelRefError) as exc:
            raise pytest.Collector.CollectError(f"suite '{spec.name}' ({nodeid}): variants: {exc}") from None
        out = []
        for item in items:
            out.append(item)
            out += [dataclasses.replace(item, fields=MappingProxyType(json.loads(row["fields"])), variant=k,
                                        library_id=row["id"])
                    for k, row in enumerate(found.get(item.id, []), 1)]
        return out

    def pytest_collection_modifyitems(self, config, items):
        if self.audit is not None and self.audit.suite not in self.suite_owner:
            collected = ", ".join(sorted(self.suite_owner)) or "none"
            raise pytest.UsageError(f"{self.audit.path}: dataset_config.benchmark_name '{self.audit.suite}' names no "
                                    f"suite this run collected (suites collected: {collected})")
        if not self.has_model:
            skip = pytest.mark.skip(reason=NO_MODEL_REASON)
            for item in items:
                if item.get_closest_marker(MARK) is not None or "model" in getattr(item, "fixturenames", ()):
                    item.add_marker(skip)
        elif not self.has_judge:
            skip = pytest.mark.skip(reason=NO_JUDGE_REASON)
            for item in items:
                if _needs_judge(item):
                    item.add_marker(skip)


def _needs_judge(item) -> bool:
    marker = item.get_closest_marker(MARK)
    declared = marker.args[0].request if marker is not None else None
    return getattr(declared, "needs_judge", False) or bool({"judge", "judgment"} & set(getattr(item, "fixturenames", ())))
