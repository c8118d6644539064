"""Latency statistics of a benchmark's timed runs, the same for every target."""

from __future__ import annotations

import numpy as np

PERCENTILES = (10, 50, 90, 99)


def latency_stats(microseconds: np.ndarray) -> dict:
    """min, p10, p50, p90, p99, max, mean, std in µs, and throughput in inferences per second."""
    samples = np.asarray(microseconds, np.float64)
    if samples.size == 0:
        raise ValueError("no timed runs")
    p10, p50, p90, p99 = np.percentile(samples, PERCENTILES)
    mean = float(samples.mean())
    return {
        "runs": int(samples.size),
        "min": _us(samples.min()),
        "p10": _us(p10),
        "p50": _us(p50),
        "p90": _us(p90),
        "p99": _us(p99),
        "max": _us(samples.max()),
        "mean": _us(mean),
        "std": _us(samples.std()),
        "throughput_ips": round(1e6 / mean, 3) if mean > 0 else None,
    }


def _us(value: float) -> float:
    return round(float(value), 3)
