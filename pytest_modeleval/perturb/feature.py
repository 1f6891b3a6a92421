"""A run's contamination scores: canonical items against their variants, per perturbed suite.

Lives in the controller process (under pytest-xdist the reports carry every outcome across), so
the gate, the terminal summary and the DB read the same scores. A suite's parameters (threshold,
alpha, review level) come with its `suite_meta`, set by `Perturb` or the audit configuration.

The `contamination` gate reads the share of flagged items. Items can be flagged only when each
has at least MIN_VARIANTS variants (the one-sided test needs them); otherwise the suite-level
verdict decides, said as such: CS above the threshold with the bootstrap p below alpha.

A run feature (runtime/features.py). It owns the contamination audit too (--eval-audit): its fields
in the run record, its lines in the summary and its governance record (governance.py) at the end
of a run that was not interrupted. `modeleval gate` scores a recorded run again over all its items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..runtime.features import RunContext, RunFeature
from .score import ALPHA, MIN_VARIANTS, THRESHOLD, SuiteScore, score_suite, suite_level_drop

GATE_METRIC = "contaminated"
SHOWN_FLAGGED = 5
SHOWN_EVIDENCE = 10  # rows of the summary's evidence table: more only when more items have evidence against them
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


class RunContamination(RunFeature):
    def __init__(self, audit=None, settings=None, rootpath: Path = Path("."), pool=None):
        self.outcomes: dict[str, dict[str, dict[int, float | None]]] = {}  # suite -> source -> variant -> score
        self.meta: dict[str, dict] = {}
        self._scored: dict[str, Scored] | None = None
        self.audit = audit  # perturb.audit_config.AuditConfig, recorded with the run
        self.settings = settings  # where the audit record goes (governance.records_dir)
        self.rootpath = rootpath
        self.audit_record: Path | str | None = None  # where the audit record was written, or why it was not
        self.pool = pool  # the run's models: membership scores are the model's predictions
        self.evidence_texts: dict[str, dict[str, dict[int, str]]] = {}  # suite -> source -> variant -> text
        self.evidence_config: dict[str, dict] = {}  # suite -> evidence.settings(spec), for any suite that asks
        self.recorded_evidence: dict[str, dict[str, dict]] = {}  # a recorded run's: suite -> source -> its row
        self._evidence: dict[str, list] | None = None

    def __bool__(self) -> bool:
        return bool(self.outcomes or self.evidence_config)

    # --- the run feature ------------------------------------------------------------------------
    @classmethod
    def for_run(cls, run: RunContext) -> RunContamination:
        return cls(run.audit, run.settings, run.rootpath, run.pool)

    @classmethod
    def from_recorded(cls, store, run_id: int, rows, settings) -> RunContamination:
        """The run's contamination scores, from its outcomes and its perturbed suites' recorded parameters; the
        evidence tables from their recorded instruments (the combined verdicts follow the new scores)."""
        import json

        from ..results.contamination import evidence_rows
        from ..results.runs import suites

        meta = suites(store.db, run_id)
        contamination = cls()
        for row in rows:
            contamination.add({**row, "suite_meta": meta.get(row["suite"])})
        for suite, row in meta.items():
            if row.get("evidence"):
                contamination.evidence_config[suite] = json.loads(row["evidence"])
                contamination.recorded_evidence[suite] = {}
        for row in evidence_rows(store.db, run_id):
            if row["suite"] in contamination.recorded_evidence:
                contamination.recorded_evidence[row["suite"]][split_id(row["item_id"])[0]] = row
        return contamination

    def payload(self, item) -> dict:
        """For a suite with membership or overlap asked for: the item's text those instruments read (a
        variant's too: the variants calibrate the membership score), and the settings."""
        from ..suite import MARK
        from . import evidence

        marker = item.get_closest_marker(MARK)
        settings = evidence.settings(marker.args[0]) if marker is not None else None
        suite_item = getattr(getattr(item, "callspec", None), "params", {}).get("item")
        if settings is None or suite_item is None:
            return {}
        return {"evidence": {**settings, "text": evidence.scored_text(marker.args[0], suite_item.fields)}}

    def collect(self, payload: dict) -> None:
        self.add(payload)
        evidence = payload.get("evidence")
        if evidence:
            source, variant = split_id(payload["item_id"])
            suite = payload["suite"]
            self.evidence_texts.setdefault(suite, {}).setdefault(source, {})[variant] = evidence["text"]
            self.evidence_config[suite] = {k: v for k, v in evidence.items() if k != "text"}
            self._evidence = None

    def evidence(self) -> dict[str, list]:
        """Each suite's evidence rows (perturb/evidence.py), computed once the outcomes are in."""
        if self._evidence is None:
            from .evidence import gather, rebuild

            predictor = self.pool.predictor("model") if self.pool is not None and self.evidence_texts else None
            self._evidence = {}
            for suite, config in sorted(self.evidence_config.items()):
                s = self.scored().get(suite)
                items = s.score.items if s is not None and s.score is not None else []
                if suite in self.recorded_evidence:
                    self._evidence[suite] = rebuild(items, self.recorded_evidence[suite], config)
                else:
                    self._evidence[suite] = gather(items, self.evidence_texts.get(suite, {}), config, predictor,
                                                   self.rootpath)
        return self._evidence

    def run_fields(self) -> dict:
        return self.audit.record() if self.audit else {}

    def models_closing(self) -> None:
        self.evidence()  # its token scores are the model's predictions, cached like any other

    def record_for_union(self, store, run_id: int) -> None:
        """The union's evidence table is rebuilt from every shard's contamination_items: this shard's first."""
        if self.evidence_config:
            self._record_scores(store, run_id)

    def gate_rows(self, rows):
        return self.with_flags(rows) if self else rows

    def adjust_gates(self, report, rules, baseline) -> None:
        if self:  # suite-level verdicts where items cannot be flagged, and the audit's figures
            self.decide(report, rules)

    def regated(self, store, run_id: int) -> list[str]:
        """The scores over the whole recorded run, with the new verdicts, recorded and shown."""
        if not self:
            return []
        self.record(store, run_id)
        return self.lines()

    def summary_lines(self) -> list:
        out: list = self._audit_lines() if self.audit is not None else []
        if self:
            for line in self.lines():
                review = line.startswith("MANUAL REVIEW")
                out.append((line, {"red": review, "bold": review}))
        return out

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
        for suite, s in self.scored().items():
            if s.item_level:
                flags.update({i.item: int(i.flagged) for i in s.score.items})
                if self.evidence_config.get(suite, {}).get("gate_on") == "combined":
                    flags.update({e.item: int(e.verdict == "contaminated") for e in self.evidence().get(suite, [])})
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
            result.properties += self._evidence_properties(suite)
        report.results.sort(key=lambda r: (r.suite, r.rule.name))

    def _evidence_properties(self, suite: str) -> list[tuple[str, str]]:
        """The evidence table in the gate's JUnit testcase: the count per combined verdict, the items it convicts."""
        rows = self.evidence().get(suite)
        if not rows:
            return []
        from collections import Counter

        from .evidence import VERDICTS

        counts = Counter(row.verdict for row in rows)
        convicted = [row.item for row in rows if row.verdict == "contaminated"]
        shown = " ".join(convicted[:SHOWN_FLAGGED]) + (" ..." if len(convicted) > SHOWN_FLAGGED else "")
        return [("modeleval_evidence", ", ".join(f"{verdict} {counts[verdict]}" for verdict in VERDICTS)),
                ("modeleval_evidence_contaminated", shown or "-")]

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
        out = []
        if self.outcomes:
            out += ["contamination (CS = (acc canonical - acc variants) / acc canonical; an item is flagged when its "
                    f"CS > threshold with one-sided p < alpha, given >= {MIN_VARIANTS} variants):"]
            out += aligned(header, rows, left=1)
            out += [f"MANUAL REVIEW REQUIRED: {r} (review_required_above_cs)" for r in self.reviews()]
        for suite, rows in self.evidence().items():
            out += evidence_lines(suite, rows, self.evidence_config[suite], perturbed=suite in self.outcomes)
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
                   "review": s.review,
                   "evidence": [row.record() for row in self.evidence().get(suite, [])] or None}
        gate = {"verdict": s.gate.verdict, "message": s.gate.message} if s.gate else None
        return [figures], gate

    def record(self, store, run_id: int, completed: bool = True) -> None:
        """The scores, then for a run that was not interrupted the audit record."""
        if self:
            self._record_scores(store, run_id)
        if self.audit is not None and completed:
            self._write_audit_record(store, run_id)

    def _record_scores(self, store, run_id: int) -> None:
        """One `contamination` row per suite, one `contamination_items` row per scored item, the review flag."""
        from ..results.contamination import replace_scores

        scores = {}
        evidence = {suite: {row.item: row for row in rows} for suite, rows in self.evidence().items()}
        for suite, s in self.scored().items():
            sc = s.score
            scores[suite] = ({
                "n_items": sc.n_items if sc else 0,
                "n_scored": sum(i.cs is not None for i in sc.items) if sc else 0,
                "min_variants": s.min_variants, "acc_baseline": sc.acc_baseline if sc else None,
                "acc_perturbed": sc.acc_perturbed if sc else None, "cs": sc.cs if sc else None,
                "cs_lo": sc.cs_ci[0] if sc and sc.cs_ci else None,
                "cs_hi": sc.cs_ci[1] if sc and sc.cs_ci else None, "p_value": sc.p_value if sc else None,
                "threshold": s.threshold, "alpha": s.alpha, "item_flags": int(s.item_level),
                "n_flagged": len(s.flagged), "flagged_share": sc.flagged_share if sc else None,
                "verdict": s.gate.verdict if s.gate else "not gated", "review_required": int(s.review is not None),
                "review_above_cs": s.review_above_cs,
            }, [{"item_id": i.item + "-p0", "baseline": i.baseline, "variant_mean": i.variant_mean,
                 "n_variants": i.n_variants, "cs": i.cs, "p_value": i.p_value, "flagged": int(i.flagged),
                 **evidence_columns(evidence.get(suite, {}).get(i.item))}
                for i in (sc.items if sc else [])])
        for suite, rows in evidence.items():
            if suite not in scores:  # a suite without variants: its evidence alone, and no contamination gate
                scores[suite] = ({"n_items": len(rows), "n_scored": 0, "item_flags": 0, "n_flagged": 0,
                                  "verdict": "not gated", "review_required": 0},
                                 [{"item_id": item + "-p0", **evidence_columns(row)} for item, row in rows.items()])
        replace_scores(store.db, run_id, scores)  # one transaction, opened by results/
        reviews = self.reviews()
        store.update_run(run_id, {"review_required": int(bool(reviews)), "review_reason": "; ".join(reviews) or None})

    # --- the audit -------------------------------------------------------------------------------
    def _write_audit_record(self, store, run_id: int) -> None:
        """The audit's result beside the checkpoint's registry entry; a failure to write it is said, not fatal."""
        from . import governance

        suites, gate = self.audit_summary(self.audit.suite)
        try:
            self.audit_record = governance.write(governance.records_dir(self.settings), self.audit,
                                                 store.run(run_id), suites, gate)
        except OSError as exc:
            self.audit_record = f"not written: {exc}"

    def _audit_lines(self) -> list[str]:
        a = self.audit
        owner = f", owner {a.owner}" if a.owner else ""
        lines = [f"audit {a.audit_id}{owner}: {a.path.name} sha256:{a.sha256[:12]} applied to suite {a.suite}"]
        if self.audit_record is not None:
            lines.append(f"audit record: {_shown(self.audit_record, self.rootpath)}"
                         if isinstance(self.audit_record, Path) else f"audit record {self.audit_record}")
        _, gate = self.audit_summary(a.suite)
        if gate is not None and gate["verdict"] == "fail" and a.notify:
            lines.append(f"audit failed: notify {', '.join(a.notify)} (modeleval sends no mail; the run's "
                         "audit record and JUnit XML carry the verdict for CI to route)")
        return lines


def evidence_columns(row) -> dict:
    """An evidence row's columns of `contamination_items` (none when the suite asked for no evidence)."""
    if row is None:
        return {}
    return {"min_k": row.min_k, "min_k_pp": row.min_k_pp, "membership_pct": row.membership_pct,
            "membership_basis": row.membership_basis, "membership_n": row.membership_n,
            "overlap_shared": row.overlap_shared,
            "overlap_total": row.overlap_total, "overlap_source": row.overlap_source, "evidence_verdict": row.verdict}


def evidence_lines(suite: str, rows: list, config: dict, perturbed: bool = True) -> list[str]:
    """The per-item evidence table of the summary, with the rule its verdict follows (a suite without variants
    has no perturbation columns)."""
    from ..util.text import aligned
    from .evidence import VERDICTS, min_reference

    header = ("item", "CS", "p", "perturbation", "Min-K%", "Min-K%++", "membership pct", "overlap", "source",
              "verdict")
    # every item the evidence speaks against, then the likeliest of the clean ones: a long suite's table is cut
    noted = [row for row in rows if row.verdict != "clean" or row.flagged]
    clean = sorted((row for row in rows if row.verdict == "clean" and not row.flagged),
                   key=lambda row: -1.0 if row.membership_pct is None else -row.membership_pct)
    shown = noted + clean[:max(0, SHOWN_EVIDENCE - len(noted))]
    left = len(rows) - len(shown)
    table = [(row.item, _num(row.cs), "-" if row.p_value is None else f"{row.p_value:.4f}",
              "flagged" if row.flagged else "-", _num(row.min_k), _num(row.min_k_pp),
              "-" if row.membership_pct is None else f"{row.membership_pct:.2f} of {row.membership_basis}",
              "-" if row.overlap_shared is None else f"{row.overlap_shared}/{row.overlap_total}",
              row.overlap_source or "-", row.verdict) for row in shown]
    flag_percentile = config.get("flag_percentile", 0.95)
    pct = f"membership pct >= {flag_percentile:g}"
    alone = f"membership only = {pct} against >= {min_reference(flag_percentile):g} texts"
    if perturbed:
        counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS[:4]}
        rule = (f"evidence for {suite} (contaminated = flagged by the perturbation test and corroborated by {pct} or "
                f">= 1 shared n-gram; {alone}; gate on {config.get('gate_on', 'perturbation')}): ")
    else:
        header, table = header[:1] + header[4:], [row[:1] + row[4:] for row in table]
        counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS[2:4]}
        rule = (f"evidence for {suite} (no variants, so no perturbation test: in corpus = >= 1 shared n-gram, "
                f"{alone}; not gated): ")
    rule += ", ".join(f"{n} {v}" for v, n in counts.items())
    cut = [f"... and {left} more clean items (every item is in contamination_items and the audit record)"] if left else []
    return [rule] + aligned(header, table, left=3) + cut


def split_id(item_id: str) -> tuple[str, int]:
    """`gsm8k-0042-p3` -> (`gsm8k-0042`, 3)."""
    match = _VARIANT.search(item_id)
    return (item_id[:match.start()], int(match.group(1))) if match else (item_id, 0)


def _shown(path: Path, root: Path) -> str:
    """A path relative to the rootdir where it lies under it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


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
