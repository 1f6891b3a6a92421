"""The small, immutable results the statistics functions return."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval at `confidence` and a standard error.

    For bootstrap estimates `se` is the standard deviation of the resampled statistic.
    """

    value: float
    lo: float
    hi: float
    se: float
    confidence: float = 0.95


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its two-sided p-value."""

    __test__ = False  # suites are pytest files: keep pytest from collecting this as a test class

    statistic: float
    p_value: float


@dataclass(frozen=True)
class PairedDiff:
    """mean(a) - mean(b) over paired items, its interval, and a two-sided p-value for "no difference"."""

    diff: Estimate
    p_value: float
    n_items: int
    n_clusters: int
