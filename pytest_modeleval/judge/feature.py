"""A run's judgments: collected from the test reports, summarized per suite, trusted or not, recorded.

Lives in the controller process (under pytest-xdist the reports carry each judgment across),
so the gates, the terminal summary and the suites table all read the same records. A run feature
(runtime/features.py): while planning it provides the judge's identity, the baseline's judgments to
re-judge and the production checkpoint's answers; it records the judge in the run record; it compares
judged suites with the baseline under one judge and leaves out the verdicts of a judge not validated
against human labels, in a session's gates and a recorded run's.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.features import RunContext, RunFeature
from ..stash import BASELINE_JUDGMENT_KEY, JUDGMENT_KEY


class RunJudgments(RunFeature):
    def __init__(self, db: Path, min_kappa: float, judge_self: bool = False):
        self.db = db
        self.min_kappa = min_kappa
        self.judge_self = judge_self  # the model under evaluation judges itself (said in the summary)
        self.pool = None  # a session's runtime/pool.py ModelPool: the judge, the production answers
        self.baseline: str | None = None  # --baseline, for the judgments to re-judge
        self.by_suite: dict[str, list[dict]] = {}
        self.rejudged: dict[str, list[dict]] = {}  # suite -> the baseline's answers judged by this run's judge
        self._trusts = None
        self._comparisons: dict = {}  # suite -> judge.rejudge.Comparison, once the gates compared

    @classmethod
    def for_run(cls, run: RunContext) -> RunJudgments:
        judge, model = getattr(run.pool, "judge", None), getattr(run.pool, "resolved", None)
        judgments = cls(run.settings.db, run.settings.judge_min_kappa,
                        judge is not None and model is not None and judge.sha256 == model.sha256)
        judgments.pool, judgments.baseline = run.pool, run.settings.baseline
        return judgments

    @classmethod
    def from_recorded(cls, store, run_id: int, rows, settings) -> RunJudgments:
        """The run's judgments as its judgments rows hold them (the trust read from the same DB)."""
        import json

        from ..results.judging import run_judgments
        from ..results.tables import JUDGMENT_LISTS

        judgments = cls(store.path, settings.judge_min_kappa)
        for row in run_judgments(store.db, run_id):
            judgments.add(row["suite"], {**row, **{k: json.loads(row[k] or "[]") for k in JUDGMENT_LISTS}})
        return judgments

    @classmethod
    def merged(cls, store, run_id: int, settings) -> None:
        """Each judged suite's win rate, interval and position bias over all the merged judgments (each
        shard's suites row held its own slice's); the judge counts as it would in a session."""
        judgments = cls.from_recorded(store, run_id, None, settings)
        judgments.record(store, run_id)

    def __bool__(self) -> bool:
        return bool(self.by_suite)

    # --- the run feature ------------------------------------------------------------------------
    def planning(self, rules) -> dict:
        """For the judged declarations (declare.py): the judge's hash, recorded with each judgment; the
        baseline's judgments made by another judge, judged again (rejudge.py) for a gate that compares them;
        the production checkpoint's stored answers (reference="production")."""
        if self.pool is None:
            return {}
        from .rejudge import BaselineAnswers

        judge = self.pool.judge
        return {"judge_hash": judge.sha256 if judge else "",
                "baseline_judgment": BaselineAnswers(self.db, self.baseline, rules),
                "production_answer": self.pool.production_answer}

    def run_fields(self) -> dict:
        """The judge in the run record, and whether it is the model under evaluation (--judge-allow-self)."""
        judge = getattr(self.pool, "judge", None)
        if judge is None:
            return {}
        return {"judge_ref": judge.ref, "judge_hash": judge.sha256, "judge_self": int(self.judge_self)}

    def payload(self, item) -> dict:
        return {"judgment": item.stash.get(JUDGMENT_KEY, None),
                "baseline_judgment": item.stash.get(BASELINE_JUDGMENT_KEY, None)}

    def collect(self, payload: dict) -> None:
        if payload.get("judgment"):
            self.add(payload["suite"], payload["judgment"])
        if payload.get("baseline_judgment"):
            self.add_rejudged(payload["suite"], payload["baseline_judgment"])

    def record_outcome(self, store, run_id: int, payload: dict) -> None:
        if payload.get("judgment"):
            store.add_judgment(run_id, payload)
        if payload.get("baseline_judgment"):
            store.add_rejudgment(run_id, payload["baseline_judgment"])

    def summary_lines(self) -> list:
        return self.lines(self.judge_self) if self else []

    def gate_baseline(self, db, baseline):
        """Judged suites are compared under one judge: the baseline re-read where it was re-judged."""
        if not self:
            return baseline
        from .rejudge import judge_consistent

        baseline, self._comparisons = judge_consistent(db, baseline, self.suite_judges(), self.suite_kinds())
        return baseline

    def adjust_gates(self, report, rules, baseline) -> None:
        """Say under which judge each comparison was made; a judge not validated does not decide a gate."""
        if not self:
            return
        if self._comparisons:
            from .rejudge import annotate

            annotate(report.results, self._comparisons, baseline)
        from .trust import discount

        discount(report.results, self.suite_judges(), self.trusts())

    # --- the records -----------------------------------------------------------------------------
    def add(self, suite: str, record: dict) -> None:
        self.by_suite.setdefault(suite, []).append(record)

    def add_rejudged(self, suite: str, record: dict) -> None:
        self.rejudged.setdefault(suite, []).append(record)

    def suite_kinds(self) -> dict[str, str]:
        """suite -> "pairwise" | "rating" (the kind of its first judgment)."""
        return {suite: records[0]["kind"] for suite, records in self.by_suite.items()}

    def suite_judges(self) -> dict[str, set]:
        """suite -> the (judge hash, template hash) pairs that judged its items."""
        return {suite: {(r["judge_hash"], r["template_sha256"]) for r in records}
                for suite, records in self.by_suite.items()}

    def trusts(self) -> dict:
        """(judge hash, template hash) -> trust.Trust, read once from the validation records."""
        if self._trusts is None:
            from .trust import trust

            pairs = set().union(*self.suite_judges().values()) if self.by_suite else set()
            self._trusts = {pair: trust(self.db, *pair, self.min_kappa) for pair in pairs}
        return self._trusts

    def summaries(self) -> list:
        from .summary import summarize

        return [summarize(suite, records) for suite, records in sorted(self.by_suite.items())]

    def lines(self, judge_self: bool) -> list[str]:
        from .summary import lines

        head = "judge:" + (" the model under evaluation judges itself (--judge-allow-self)" if judge_self else "")
        out = [head] + lines(self.summaries(), {pair: t.text for pair, t in self.trusts().items()})
        for suite, records in sorted(self.rejudged.items()):
            errors = sum(r.get("error") is not None for r in records)
            out.append(f"suite {suite}: the baseline (run {records[0]['run_id']}) was judged by another judge or "
                       f"template; its stored answers were judged again by this run's judge for the gates "
                       f"({len(records)} items{f', {errors} unreadable' if errors else ''})")
        return out

    def record(self, store, run_id: int, completed: bool = True) -> None:
        """Per suite in the suites table: win rate, its interval, position bias, whether the judge counted."""
        if not self:
            return
        trusts = self.trusts()
        for s in self.summaries():
            store.update_suite(run_id, s.suite, {
                "judge_hash": ",".join(sorted({j for j, _ in s.judges})),
                "judge_template_sha256": ",".join(sorted({t for _, t in s.judges})),
                "judge_counted": int(all(trusts[pair].counted for pair in s.judges)),
                "judged": s.n, "judge_errors": s.errors, "win_rate": s.win_rate,
                "win_ci_lo": s.win_ci[0] if s.win_ci else None, "win_ci_hi": s.win_ci[1] if s.win_ci else None,
                "lc_win_rate": s.lc_win_rate, "first_slot_rate": s.first_slot_rate, "mean_rating": s.mean_rating,
            })
