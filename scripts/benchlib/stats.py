"""Percentiles and summaries of latency samples (seconds in, milliseconds out)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(samples: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99/mean/max in milliseconds, and the sample count."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50) * 1000, 3),
        "p95": round(percentile(samples, 95) * 1000, 3),
        "p99": round(percentile(samples, 99) * 1000, 3),
        "mean": round(statistics.fmean(samples) * 1000, 3),
        "max": round(max(samples) * 1000, 3),
    }


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan
