"""Plain-text tables and percentages, as every summary, gate table and command prints them."""

from __future__ import annotations

import math


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal; "-" when there is none (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}%"


def aligned(header: tuple, rows: list[tuple], left: int) -> list[str]:
    """A plain-text table: the first `left` columns left-aligned (names), the rest right-aligned."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in (header, *rows)]
