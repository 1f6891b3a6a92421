"""A run's judgments: collected from the test reports, summarized per suite, trusted or not, recorded.

Lives in the controller process (under pytest-xdist the reports carry each judgment across),
so the gates, the terminal summary and the suites table all read the same records.
"""

from __future__ import annotations

from pathlib import Path


class RunJudgments:
    def __init__(self, db: Path, min_kappa: float):
        self.db = db
        self.min_kappa = min_kappa
        self.by_suite: dict[str, list[dict]] = {}
        self.rejudged: dict[str, list[dict]] = {}  # suite -> the baseline's answers judged by this run's judge
        self._trusts = None

    def __bool__(self) -> bool:
        return bool(self.by_suite)

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

    def record(self, store, run_id: int) -> None:
        """Per suite in the suites table: win rate, its interval, position bias, whether the judge counted."""
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
