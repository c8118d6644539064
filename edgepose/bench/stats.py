"""Latency statistics of a benchmark's timed runs, the same for every target, in the unit its timer
counts: microseconds for a clock, instructions for an emulated board (whose clock follows instructions)."""

from __future__ import annotations

import numpy as np

PERCENTILES = (10, 50, 90, 99)
UNITS = ("us", "instructions")
UNIT_NAMES = {"us": "µs", "instructions": "instructions"}


def latency_stats(values: np.ndarray, unit: str = "us") -> dict:
    """``unit``, runs, min, p10, p50, p90, p99, max, mean, std; for time also the throughput in
    inferences per second (an instruction count has none: it is not a duration)."""
    samples = np.asarray(values, np.float64)
    if samples.size == 0:
        raise ValueError("no timed runs")
    if unit not in UNITS:
        raise ValueError(f"unknown latency unit {unit!r}")
    p10, p50, p90, p99 = np.percentile(samples, PERCENTILES)
    mean = float(samples.mean())
    stats = {"unit": unit, "runs": int(samples.size)}
    for key, value in (("min", samples.min()), ("p10", p10), ("p50", p50), ("p90", p90), ("p99", p99),
                       ("max", samples.max()), ("mean", mean), ("std", samples.std())):  # fmt: skip
        stats[key] = rounded(value, unit)
    if unit == "us":
        stats["throughput_ips"] = round(1e6 / mean, 3) if mean > 0 else None
    return stats


def rounded(value: float, unit: str) -> float | int:
    return round(float(value)) if unit == "instructions" else round(float(value), 3)


def format_value(value: float | int | None, unit: str) -> str:
    """A latency for a table: ``1,234.5 µs`` or ``427,112,340 instructions``."""
    if value is None:
        return "-"
    return f"{value:,.0f} instructions" if unit == "instructions" else f"{value:,.1f} µs"
