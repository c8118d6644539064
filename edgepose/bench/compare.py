"""``report compare``: reports side by side, each against the baseline of its own kind — measured time
against measured time, emulated instruction counts against instruction counts (the two are never one
scale: an emulated report beside a measured one is neither faster nor a regression). A table of ratios,
regressions over a threshold (for CI), a PNG with one panel of p50 bars (p10–p90 whiskers, log axis) and
one latency CDF per unit, and a self-contained HTML page holding both."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose import atomic
from edgepose.bench.report import label, unit
from edgepose.bench.stats import UNIT_NAMES, format_value

SAME_BAND = 0.05  # within ±5% of the baseline is "same": run-to-run noise on a shared machine


@dataclass
class Row:
    label: str
    unit: str  # "us" or "instructions"
    p50: float
    p90: float | None  # None: the tool that measured kept no p90 (benchmark_model)
    ratio: float  # p50 / its baseline's p50 (the first report of its unit): < 1 is faster
    bucket: str  # baseline, faster, same, slower
    regression: bool
    output_check: str


def compare(reports: list[dict], baseline: int = 0, fail_over: float | None = None) -> list[Row]:
    """Each report against ``reports[baseline]`` when it is of the same unit, else against the first
    report of its unit."""
    bases: dict[str, int] = {unit(reports[baseline]): baseline}
    for index, report in enumerate(reports):
        bases.setdefault(unit(report), index)
    rows = []
    for index, report in enumerate(reports):
        latency = report["latency"]
        base_index = bases[unit(report)]
        base = reports[base_index]["latency"]["p50"]
        ratio = latency["p50"] / base if base else float("nan")
        if index == base_index:
            bucket = "baseline"
        elif ratio < 1 - SAME_BAND:
            bucket = "faster"
        elif ratio > 1 + SAME_BAND:
            bucket = "slower"
        else:
            bucket = "same"
        regression = fail_over is not None and index != base_index and (ratio - 1) * 100 > fail_over
        rows.append(
            Row(label(report), unit(report), latency["p50"], latency.get("p90"), ratio, bucket, regression,
                output_verdict(report))
        )  # fmt: skip
    return rows


def output_verdict(report: dict) -> str:
    """``pass``, ``FAIL``, or ``not checked`` where the tool returned no outputs (benchmark_model)."""
    check = report.get("output_check") or {}
    if not check or check.get("passed") is None:
        return "not checked"
    return "pass" if check["passed"] else "FAIL"


def figure_png(reports: list[dict]) -> bytes:
    """Per unit, p50 bars with p10–p90 whiskers and each report's latency CDF, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    units = list(dict.fromkeys(unit(r) for r in reports))
    groups = [[r for r in reports if unit(r) == u] for u in units]
    heights = [max(3.0, 0.45 * len(g) + 1.8) for g in groups]
    fig, axes = plt.subplots(len(units), 2, figsize=(12, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})  # fmt: skip
    for (bars, cdf), kind, group in zip(axes, units, groups, strict=True):
        _panel(bars, cdf, kind, group)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _panel(bars, cdf, kind: str, reports: list[dict]) -> None:
    scale, name = (1e-3, "ms") if kind == "us" else (1e-6, "million instructions (emulated)")
    names = [label(r) for r in reports]
    p50 = np.array([r["latency"]["p50"] for r in reports]) * scale
    low = p50 - np.array([_spread(r, ("p10", "p5", "min")) for r in reports]) * scale
    high = np.array([_spread(r, ("p90", "p95", "max")) for r in reports]) * scale - p50
    positions = np.arange(len(reports))
    bars.barh(positions, p50, xerr=[low, high], color="#4c78a8" if kind == "us" else "#9c755f", capsize=3)
    bars.set_yticks(positions, names, fontsize=8)
    bars.invert_yaxis()
    bars.set_xscale("log")  # a 0.6 ms bar stays visible beside a 400 ms one
    bars.set_xlabel(f"latency p50, {name} (whiskers: p10–p90, or the nearest the report has)")
    for title, report in zip(names, reports, strict=True):
        if not report["samples"]:  # a tool that keeps only statistics (benchmark_model): no curve
            continue
        samples = np.sort(np.asarray(report["samples"], np.float64)) * scale
        cdf.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post", label=title)
    cdf.set_xlabel(f"latency, {name}")
    cdf.set_ylabel("share of runs")
    cdf.set_xscale("log")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=7, loc="lower right")


def _spread(report: dict, keys: tuple[str, ...]) -> float:
    """The first of ``keys`` the report's latency has: p10/p90 where every run was kept, p5/p95 or min/max
    from a tool that printed only those."""
    latency = report["latency"]
    return next(latency[k] for k in keys if latency.get(k) is not None)


def html_page(rows: list[Row], png: bytes) -> str:
    header = "".join(f"<th>{h}</th>" for h in ("report", "p50", "p90", "vs baseline of its kind", "", "output check"))
    body = "".join(
        f"<tr class='{r.bucket}{' regression' if r.regression else ''}'><td>{html.escape(r.label)}</td>"
        f"<td>{format_value(r.p50, r.unit)}</td><td>{format_value(r.p90, r.unit)}</td><td>{r.ratio:.3f}x</td>"
        f"<td>{r.bucket}</td><td>{r.output_check}</td></tr>"
        for r in rows
    )
    image = base64.b64encode(png).decode()
    kinds = sorted({UNIT_NAMES[r.unit] for r in rows})
    note = (
        "<p>Emulated boards count instructions (QEMU <code>-icount</code>), not time: they are compared only "
        "with each other, never with measured latencies.</p>"
        if len(kinds) > 1
        else ""
    )
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
{note}
<p><img alt="p50 latency with p10-p90 whiskers, and the CDF, a row per unit" src="data:image/png;base64,{image}"></p>
</body></html>
"""


def write_png(reports: list[dict], path: Path) -> Path:
    return atomic.write_bytes(Path(path), figure_png(reports))


def write_html(reports: list[dict], rows: list[Row], path: Path) -> Path:
    return atomic.write_text(Path(path), html_page(rows, figure_png(reports)))
