"""The one-page summary of a pipeline run: accuracy float vs int8, latency and memory per target with
ratios, the latency plot, and sample predictions float vs int8 — a self-contained HTML file."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from edgepose.atomic import write_text


def write_summary(root: Path, path: Path) -> Path:
    accuracy = _json(root / "evaluate" / "accuracy.json") or {}
    benchmark = (_json(root / "pipeline.json") or {}).get("steps", {}).get("benchmark", {})
    reports = [_json(root / p) for p in benchmark.get("outputs", {}).get("reports", [])]  # in the config's order
    failures = benchmark.get("failures", [])
    body = [
        "<h1>edgepose demo</h1>",
        "<h2>Accuracy, float vs int8</h2>",
        _accuracy_table(accuracy),
        "<h2>Latency and memory per target</h2>",
        _latency_table([r for r in reports if r]),
        *(f"<p class='failed'>{html.escape(f['target'])} failed: {html.escape(f['reason'])}</p>" for f in failures),
        _image(root / "compare" / "latency.png", "p50 latency per target with p10-p90 whiskers, and the CDF"),
        "<h2>Sample predictions</h2>",
        "<div class='pair'>",
        _image(root / "evaluate" / "float" / "predictions.png", "float predictions", "float"),
        _image(root / "evaluate" / "int8" / "predictions.png", "int8 predictions", "int8"),
        "</div>",
    ]
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>edgepose demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} .failed {{ color: #c00; }}
.pair {{ display: flex; gap: 1em; }} figure {{ margin: 0; }} img {{ max-width: 100%; }}
</style></head><body>
{chr(10).join(body)}
</body></html>
"""
    return write_text(path, page)


def _accuracy_table(accuracy: dict) -> str:
    keys = list(dict.fromkeys(k for scores in accuracy.values() for k in scores))
    rows = "".join(
        f"<tr><td>{role}</td>" + "".join(f"<td>{_number(scores.get(k))}</td>" for k in keys) + "</tr>"
        for role, scores in accuracy.items()
    )
    return f"<table><tr><th>model</th>{''.join(f'<th>{k}</th>' for k in keys)}</tr>{rows}</table>"


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"  # None: nothing to score (e.g. no visible keypoint)


def _latency_table(reports: list[dict]) -> str:
    from edgepose.bench.compare import output_verdict

    if not reports:
        return "<p>no benchmark report</p>"
    # measured time and emulated instruction counts are never compared with each other
    first = {}
    head = ("target", "runtime", "p50", "vs first of its kind", "activation arena / peak memory", "output check")
    rows = []
    for r in reports:
        memory = r.get("memory") or {}
        ram = memory.get("arena_bytes") or memory.get("peak_rss_bytes") or memory.get("peak_footprint_bytes")
        emulated = r["latency"]["unit"] == "instructions"
        value = r["latency"]["p50"]
        base = first.setdefault(emulated, value)
        latency = f"{value:,} instructions (emulated)" if emulated else f"{value / 1000:.3f} ms"
        rows.append(
            f"<tr><td>{html.escape(r['target']['name'])}</td><td>{html.escape(r['runtime'].get('name', ''))}</td>"
            f"<td>{latency}</td><td>{value / base:.2f}x</td><td>{f'{ram:,} B' if ram else ''}</td>"
            f"<td>{output_verdict(r)}</td></tr>"
        )
    return f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{''.join(rows)}</table>"


def _image(path: Path, alt: str, caption: str = "") -> str:
    if not path.is_file():
        return f"<p>({html.escape(alt)}: not produced)</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    figure = f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"
    return f"<figure>{figure}<figcaption>{html.escape(caption)}</figcaption></figure>" if caption else figure


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
