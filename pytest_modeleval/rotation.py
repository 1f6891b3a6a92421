"""Rotating samples: a suite with `sample=N, rotate="quarterly"` draws a fresh seeded sample each period.

Soft contamination (a benchmark's items leaking into training over time) has less to memorize when
the evaluated items change on a schedule. The sample of a period is fixed (the seed is derived from
the suite's seed and the period's label), so every checkpoint evaluated in a period sees the same
items and stays comparable, and an old period's sample can be drawn again with `--eval-period`.
The period and the pool it was drawn from (data_sha256, n_rows) are recorded per suite and run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timezone

SCHEDULES = {
    "weekly": re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"),
    "monthly": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "quarterly": re.compile(r"^\d{4}-Q[1-4]$"),
    "yearly": re.compile(r"^\d{4}$"),
}


def check_schedule(rotate: str) -> str:
    if rotate not in SCHEDULES:
        raise ValueError(f"rotate must be one of {', '.join(SCHEDULES)}, got {rotate!r}")
    return rotate


def check_period(text: str) -> str:
    """A period label: 2026-W47, 2026-11, 2026-Q4 or 2026."""
    text = str(text).strip()
    if not any(p.match(text) for p in SCHEDULES.values()):
        raise ValueError("must be a period such as 2026-Q4, 2026-11, 2026-W47 or 2026")
    return text


def period_of(rotate: str, day: date | None = None) -> str:
    """The label of the period that contains `day` (today, UTC, by default)."""
    day = day or datetime.now(timezone.utc).date()
    if rotate == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if rotate == "monthly":
        return f"{day.year}-{day.month:02d}"
    if rotate == "quarterly":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def period_for(suite: str, rotate: str, given: str | None) -> str:
    """The period a suite samples: --eval-period when given (it must fit the schedule), else the current one."""
    if given is None:
        return period_of(rotate)
    if not SCHEDULES[rotate].match(given):
        raise ValueError(f"--eval-period {given} is not a {rotate} period, which suite '{suite}' rotates by "
                         f"(e.g. {period_of(rotate)})")
    return given


def period_seed(seed: int, period: str) -> int:
    """The sampling seed of a period: stable, and unrelated between neighbouring periods."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{period}".encode()).digest()[:4], "big")
