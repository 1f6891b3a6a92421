"""Rotating samples: a fresh seeded sample per period, the same within a period, the period recorded."""

from __future__ import annotations

from datetime import date

import pytest

from evalkit import RESULTS_DB, query, run, setup_suite
from pytest_modeleval import suite
from pytest_modeleval.rotation import check_period, period_for, period_of, period_seed

SUITE = """
@modeleval.suite("rot", data="rows.jsonl", sample=3, rotate="quarterly")
def test_rot(item):
    pass
"""


def test_periods():
    day = date(2026, 11, 25)
    assert [period_of(s, day) for s in ("weekly", "monthly", "quarterly", "yearly")] == \
        ["2026-W48", "2026-11", "2026-Q4", "2026"]
    assert period_of("weekly", date(2027, 1, 1)) == "2026-W53"  # ISO weeks belong to their ISO year
    assert period_seed(0, "2026-Q4") == period_seed(0, "2026-Q4") != period_seed(0, "2026-Q3")
    assert period_for("s", "monthly", "2026-02") == "2026-02"
    with pytest.raises(ValueError, match="--eval-period 2026-Q1 is not a monthly period, which suite 's' rotates"):
        period_for("s", "monthly", "2026-Q1")
    for bad in ("2026-Q5", "26-11", "2026-13", "Q4"):
        with pytest.raises(ValueError, match="must be a period"):
            check_period(bad)


def test_suite_arguments_are_checked():
    with pytest.raises(ValueError, match="rotate='quarterly' needs sample=N"):
        suite("s", data=[], rotate="quarterly")
    with pytest.raises(ValueError, match="rotate must be one of weekly, monthly, quarterly, yearly"):
        suite("s", data=[], sample=2, rotate="daily")


def test_each_period_draws_its_own_sample(pytester):
    setup_suite(pytester, SUITE, [{"q": i} for i in range(40)], data="rows.jsonl", counting=False)
    db = pytester.path / RESULTS_DB

    def items(period):
        assert run(pytester, "-q", f"--eval-period={period}").ret == 0
        run_id = query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
        [s] = query(db, "SELECT rotation, n_rows, data_sha256 FROM suites WHERE run_id = ?", run_id)
        assert s["rotation"] == f"quarterly {period}" and s["n_rows"] == 40 and s["data_sha256"]
        return sorted(r["item_id"] for r in query(db, "SELECT item_id FROM outcomes WHERE run_id = ?", run_id))

    q3, q4 = items("2026-Q3"), items("2026-Q4")
    assert len(q3) == len(q4) == 3 and q3 != q4
    assert items("2026-Q3") == q3  # the same period draws the same items again
    result = run(pytester, "-q", "--eval-period=2026-11")
    assert "--eval-period 2026-11 is not a quarterly period, which suite 'rot' rotates by" in result.stdout.str()
    assert result.ret != 0
