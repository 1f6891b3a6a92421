"""How the gates print a value, a difference, a detectable fall and a p-value (table, messages, JUnit)."""

from __future__ import annotations

import math

from ..util.text import pct


def fmt(value: float | None, proportion: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pct(value) if proportion else f"{value:.4g}"


def fmt_delta(value: float, proportion: bool, signed: bool = True) -> str:
    """A difference in points for proportions (`-31.2 pts`), else in the metric's units."""
    sign = "+" if signed else ""
    if proportion:
        return f"{100 * value:{sign}.1f} pts"
    return f"{value:{sign}.4g}"


def fmt_detectable(value: float | None, proportion: bool) -> str:
    """The smallest detectable fall: `4.3 pts`, `none` when no fall is detectable, `-` when not computed."""
    if value is None:
        return "-"
    return "none" if math.isinf(value) else fmt_delta(value, proportion, signed=False)


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
