"""A run's contamination scores: canonical items against their variants, per perturbed suite.

Lives in the controller process (under pytest-xdist the reports carry every outcome across), so
the gate, the terminal summary and the DB read the same scores. A suite's parameters (threshold,
alpha, review level) come with its `suite_meta`, set by `Perturb` or the audit configuration.

The `contamination` gate reads the share of flagged items. Items can be flagged only when each
has at least MIN_VARIANTS variants (the one-sided test needs them); otherwise the suite-level
verdict decides, said as such: CS above the threshold with the bootstrap p below alpha.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .score import ALPHA, MIN_VARIANTS, THRESHOLD, SuiteScore, score_suite, suite_level_drop

GATE_METRIC = "contaminated"
SHOWN_FLAGGED = 5
_VARIANT = re.compile(r"-p(\d+)$")


@dataclass
class Scored:
    """One suite's audit: its score (None when nothing could be scored, with the reason)."""

    suite: str
    score: SuiteScore | None
    reason: str
    threshold: float
    alpha: float
    review_above_cs: float | None
    gate: object = None  # the contamination GateResult, once the gates ran (overrides update it in place)

    @property
    def item_level(self) -> bool:
        return self.score is not None and self.score.item_flags

    @property
    def min_variants(self) -> int:
        return min(i.n_variants for i in self.score.items) if self.score and self.score.items else 0

    @property
    def variant_counts(self) -> str:
        """'10', or '3-10' when items differ."""
        counts = [i.n_variants for i in self.score.items] if self.score else [0]
        return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"

    @property
    def flagged(self) -> list[str]:
        return [i.item for i in self.score.items if i.flagged] if self.score else []

    @property
    def review(self) -> str | None:
        """Why the suite needs manual review, or None."""
        cs = self.score.cs if self.score else None
        if self.review_above_cs is None or cs is None or cs <= self.review_above_cs:
            return None
        return f"{self.suite}: CS {cs:.3f} > {self.review_above_cs:g}"

    def basis(self) -> str:
        if self.score is None:
            return self.reason
        if self.item_level:
            return f"item flags (>= {MIN_VARIANTS} variants per item)"
        return (f"suite-level verdict only: {self.min_variants} variant(s) on the thinnest item, item flags need "
                f">= {MIN_VARIANTS}")


class RunContamination:
    def __init__(self):
        self.outcomes: dict[str, dict[str, dict[int, float | None]]] = {}  # suite -> source -> variant -> score
        self.meta: dict[str, dict] = {}
        self._scored: dict[str, Scored] | None = None

    def __bool__(self) -> bool:
        return bool(self.outcomes)

    def add(self, payload: dict) -> None:
        """An outcome of a perturbed suite (others are ignored); errors and skips carry no score."""
        meta = payload.get("suite_meta") or {}
        if not meta.get("perturbations"):
            return
        suite = payload["suite"]
        self.meta.setdefault(suite, meta)
        source, variant = split_id(payload["item_id"])
        score = payload["score"] if payload["outcome"] in ("correct", "wrong") else None
        self.outcomes.setdefault(suite, {}).setdefault(source, {})[variant] = score
        self._scored = None

    def scored(self) -> dict[str, Scored]:
        if self._scored is None:
            self._scored = {suite: self._score(suite) for suite in sorted(self.outcomes)}
        return self._scored

    def _score(self, suite: str) -> Scored:
        meta = self.meta[suite]
        threshold = _or(meta.get("cs_threshold"), THRESHOLD)
        alpha = _or(meta.get("cs_alpha"), ALPHA)
        review = meta.get("review_above_cs")
        pairs = {}
        for source, by_variant in self.outcomes[suite].items():
            base = by_variant.get(0)
            variants = [v for k, v in sorted(by_variant.items()) if k > 0 and v is not None]
            if base is not None and variants:
                pairs[source] = (base, variants)
        if not pairs:
            answered = any(v.get(0) is not None for v in self.outcomes[suite].values())
            reason = ("no item has an answered variant (no variant was accepted, or every variant errored)"
                      if answered else "no canonical item was answered")
            return Scored(suite, None, reason, threshold, alpha, review)
        score = score_suite(pairs, threshold=threshold, alpha=alpha)
        if score.cs is None:
            return Scored(suite, score, "no canonical item was answered correctly: nothing to drop from",
                          threshold, alpha, review)
        return Scored(suite, score, "", threshold, alpha, review)

    # --- the gate -------------------------------------------------------------------------------
    def with_flags(self, rows):
        """The gate rows, each canonical row of an item-level suite carrying `contaminated` (1 flagged, 0 not)."""
        flags = {}
        for s in self.scored().values():
            if s.item_level:
                flags.update({i.item: int(i.flagged) for i in s.score.items})
        out = []
        for row in rows:
            source, variant = split_id(row["item_id"])
            if variant == 0 and source in flags and row["suite"] in self.outcomes:
                row = {**row, "metrics": {**_metrics(row.get("metrics")), GATE_METRIC: flags[source]}}
            out.append(row)
        return out

    def decide(self, report, gate_config) -> None:
        """Add the suite-level verdicts and the audit's figures to the `contamination` gate results."""
        from ..gates.evaluate import GateResult

        by_name = {(r.suite, r.rule.metric): r for r in report.results}
        for suite, s in self.scored().items():
            rule = next((r for r in gate_config.rules_for(suite) if r.metric == GATE_METRIC), None)
            if rule is None:
                continue
            result = by_name.get((suite, GATE_METRIC))
            if result is None:  # no item flags: the suite-level verdict, or n/a with the reason
                _unlist(report.not_recorded, rule.name, suite)
                result = self._suite_level(suite, s, rule, GateResult)
                report.results.append(result)
            elif s.score.cs is None:  # nothing answered right: no flag could fire, so the share says nothing
                result.verdict, result.message = "n/a", f"contamination not scored: {s.reason}"
            else:
                result.message += f"; {self._figures(s)}"
                if s.flagged:
                    shown = ", ".join(s.flagged[:SHOWN_FLAGGED]) + (" ..." if len(s.flagged) > SHOWN_FLAGGED else "")
                    result.message += f"; flagged: {shown}"
            s.gate = result
        report.results.sort(key=lambda r: (r.suite, r.rule.name))

    def _suite_level(self, suite: str, s: Scored, rule, GateResult):
        """The verdict on the suite's CS; the result names `cs` as its metric, since its value is the CS."""
        import dataclasses

        rule = dataclasses.replace(rule, metric="cs")
        if s.score is None or s.score.cs is None:
            return GateResult(suite, rule, "n/a", f"contamination not scored: {s.reason}")
        drop = suite_level_drop(s.score, threshold=s.threshold, alpha=s.alpha)
        verdict = "fail" if drop else "pass"
        said = (f"CS above {s.threshold:g} with p < {s.alpha:g}" if drop
                else f"no significant drop above CS {s.threshold:g} (p < {s.alpha:g} needed)")
        return GateResult(suite, rule, verdict, f"{said}; {self._figures(s)}; {s.basis()}", n=s.score.n_items,
                          value=s.score.cs, ci=s.score.cs_ci, ci_method="cluster bootstrap",
                          p_value=s.score.p_value, test="one-sided cluster bootstrap", proportion=False)

    @staticmethod
    def _figures(s: Scored) -> str:
        sc = s.score
        if sc is None or sc.cs is None:
            return s.reason
        ci = f" [{sc.cs_ci[0]:.3f}, {sc.cs_ci[1]:.3f}]" if sc.cs_ci else ""
        return (f"CS {sc.cs:.3f}{ci} (accuracy {sc.acc_baseline:.3f} canonical, {sc.acc_perturbed:.3f} on "
                f"variants, {sc.n_items} items, p={sc.p_value:.4f})")

    # --- summary and record ---------------------------------------------------------------------
    def reviews(self) -> list[str]:
        return [s.review for s in self.scored().values() if s.review]

    def lines(self) -> list[str]:
        from ..util.text import aligned

        header = ("suite", "items", "variants/item", "acc canonical", "acc variants", "CS", "95% CI", "p (drop)",
                  "flagged", "basis")
        rows = []
        for suite, s in self.scored().items():
            sc = s.score
            if sc is None:
                rows.append((suite, "0", "-", "-", "-", "-", "-", "-", "-", s.reason))
                continue
            flagged = f"{len(s.flagged)}/{sc.n_items}" if s.item_level else "-"
            rows.append((suite, str(sc.n_items), s.variant_counts, f"{sc.acc_baseline:.3f}",
                         f"{sc.acc_perturbed:.3f}", _num(sc.cs), _ci(sc.cs_ci), f"{sc.p_value:.4f}", flagged,
                         s.basis()))
        out = ["contamination (CS = (acc canonical - acc variants) / acc canonical; an item is flagged when its CS "
               f"> threshold with one-sided p < alpha, given >= {MIN_VARIANTS} variants):"]
        out += aligned(header, rows, left=1)
        out += [f"MANUAL REVIEW REQUIRED: {r} (review_required_above_cs)" for r in self.reviews()]
        return out

    def audit_summary(self, suite: str) -> tuple[list[dict], dict | None]:
        """The audit record's suite figures (with the flagged items) and the gate's verdict."""
        s = self.scored().get(suite)
        if s is None:
            return [], None
        sc = s.score
        figures = {"suite": suite, "basis": s.basis(), "n_items": sc.n_items if sc else 0,
                   "variants_per_item": s.variant_counts if sc else "0",
                   "acc_baseline": sc.acc_baseline if sc else None, "acc_perturbed": sc.acc_perturbed if sc else None,
                   "cs": sc.cs if sc else None, "cs_ci": list(sc.cs_ci) if sc and sc.cs_ci else None,
                   "p_value": sc.p_value if sc else None, "threshold": s.threshold, "alpha": s.alpha,
                   "flagged_items": s.flagged, "flagged_share": sc.flagged_share if sc else None,
                   "review": s.review}
        gate = {"verdict": s.gate.verdict, "message": s.gate.message} if s.gate else None
        return [figures], gate

    def record(self, store, run_id: int) -> None:
        """One `contamination` row per suite, one `contamination_items` row per scored item, the review flag."""
        with store.db.conn:
            for suite, s in self.scored().items():
                sc = s.score
                store.db["contamination"].upsert({
                    "run_id": run_id, "suite": suite, "n_items": sc.n_items if sc else 0,
                    "n_scored": sum(i.cs is not None for i in sc.items) if sc else 0,
                    "min_variants": s.min_variants, "acc_baseline": sc.acc_baseline if sc else None,
                    "acc_perturbed": sc.acc_perturbed if sc else None, "cs": sc.cs if sc else None,
                    "cs_lo": sc.cs_ci[0] if sc and sc.cs_ci else None,
                    "cs_hi": sc.cs_ci[1] if sc and sc.cs_ci else None, "p_value": sc.p_value if sc else None,
                    "threshold": s.threshold, "alpha": s.alpha, "item_flags": int(s.item_level),
                    "n_flagged": len(s.flagged), "flagged_share": sc.flagged_share if sc else None,
                    "verdict": s.gate.verdict if s.gate else "not gated", "review_required": int(s.review is not None),
                    "review_above_cs": s.review_above_cs,
                }, pk=("run_id", "suite"))
                store.db.execute("DELETE FROM contamination_items WHERE run_id = ? AND suite = ?", [run_id, suite])
                store.db["contamination_items"].insert_all(
                    [{"run_id": run_id, "suite": suite, "item_id": i.item + "-p0", "baseline": i.baseline,
                      "variant_mean": i.variant_mean, "n_variants": i.n_variants, "cs": i.cs, "p_value": i.p_value,
                      "flagged": int(i.flagged)} for i in (sc.items if sc else [])])
        reviews = self.reviews()
        store.update_run(run_id, {"review_required": int(bool(reviews)), "review_reason": "; ".join(reviews) or None})


def split_id(item_id: str) -> tuple[str, int]:
    """`gsm8k-0042-p3` -> (`gsm8k-0042`, 3)."""
    match = _VARIANT.search(item_id)
    return (item_id[:match.start()], int(match.group(1))) if match else (item_id, 0)


def _metrics(metrics) -> dict:
    if isinstance(metrics, str):
        import json

        return json.loads(metrics)
    return dict(metrics or {})


def _unlist(not_recorded: dict, rule: str, suite: str) -> None:
    suites = not_recorded.get(rule, [])
    if suite in suites:
        suites.remove(suite)
        if not suites:
            del not_recorded[rule]


def _or(value, default):
    return default if value is None else value


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(ci) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
