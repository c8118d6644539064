"""``report compare``: reports side by side against a baseline — a table of ratios, regressions over a
threshold (for CI), a PNG (p50 bars with p10–p90 whiskers, and the latency CDF) and a self-contained HTML
page holding both."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose import atomic
from edgepose.bench.report import label

SAME_BAND = 0.05  # within ±5% of the baseline is "same": run-to-run noise on a shared machine


@dataclass
class Row:
    label: str
    p50_us: float
    p90_us: float
    ratio: float  # p50 / baseline p50: < 1 is faster
    bucket: str  # baseline, faster, same, slower
    regression: bool
    output_check: str


def compare(reports: list[dict], baseline: int = 0, fail_over: float | None = None) -> list[Row]:
    base = reports[baseline]["latency_us"]["p50"]
    rows = []
    for index, report in enumerate(reports):
        latency = report["latency_us"]
        ratio = latency["p50"] / base if base else float("nan")
        if index == baseline:
            bucket = "baseline"
        elif ratio < 1 - SAME_BAND:
            bucket = "faster"
        elif ratio > 1 + SAME_BAND:
            bucket = "slower"
        else:
            bucket = "same"
        regression = fail_over is not None and index != baseline and (ratio - 1) * 100 > fail_over
        check = report.get("output_check") or {}
        verdict = "pass" if check.get("passed") else ("FAIL" if check else "-")
        rows.append(Row(label(report), latency["p50"], latency["p90"], ratio, bucket, regression, verdict))
    return rows


def figure_png(reports: list[dict]) -> bytes:
    """p50 bars with p10–p90 whiskers, and each report's latency CDF, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [label(r) for r in reports]
    p50 = np.array([r["latency_us"]["p50"] for r in reports]) / 1e3
    low = p50 - np.array([r["latency_us"].get("p10", r["latency_us"]["min"]) for r in reports]) / 1e3
    high = np.array([r["latency_us"]["p90"] for r in reports]) / 1e3 - p50
    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(12, max(3.5, 0.45 * len(reports) + 2)))
    positions = np.arange(len(reports))
    bars.barh(positions, p50, xerr=[low, high], color="#4c78a8", capsize=3)
    bars.set_yticks(positions, names, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("latency p50, ms (whiskers: p10–p90)")
    for name, report in zip(names, reports, strict=True):
        samples = np.sort(np.asarray(report["samples_us"], np.float64)) / 1e3
        cdf.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post", label=name)
    cdf.set_xlabel("latency, ms")
    cdf.set_ylabel("share of runs")
    cdf.set_xscale("log")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def html_page(rows: list[Row], png: bytes) -> str:
    header = "".join(f"<th>{h}</th>" for h in ("report", "p50 µs", "p90 µs", "vs baseline", "", "output check"))
    body = "".join(
        f"<tr class='{r.bucket}{' regression' if r.regression else ''}'><td>{html.escape(r.label)}</td>"
        f"<td>{r.p50_us:,.1f}</td><td>{r.p90_us:,.1f}</td><td>{r.ratio:.3f}x</td><td>{r.bucket}</td>"
        f"<td>{r.output_check}</td></tr>"
        for r in rows
    )
    image = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>edgepose benchmark comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.faster td {{ color: #1a7f37; }} .slower td {{ color: #b35900; }} .regression td {{ color: #c00; font-weight: bold; }}
</style></head><body>
<h1>edgepose benchmark comparison</h1>
<table><tr>{header}</tr>{body}</table>
<p><img alt="p50 latency with p10-p90 whiskers, and latency CDF" src="data:image/png;base64,{image}"></p>
</body></html>
"""


def write_png(reports: list[dict], path: Path) -> Path:
    return atomic.write_bytes(Path(path), figure_png(reports))


def write_html(reports: list[dict], rows: list[Row], path: Path) -> Path:
    return atomic.write_text(Path(path), html_page(rows, figure_png(reports)))
