"""The benchmark report: one versioned JSON schema for every target (docs/benchmark-report.md).

``compare`` and ``show`` read only this file, never the target, so a number from a Raspberry Pi, an
emulated Cortex-M and this machine mean the same thing side by side.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edgepose import __version__, atomic
from edgepose.errors import DataError
from edgepose.textfile import read_text

SCHEMA = "edgepose.benchmark_report/2"
PREVIOUS = "edgepose.benchmark_report/1"  # read too: latency in µs, emulated boards' instructions beside it
REQUIRED = ("schema", "model", "target", "runtime", "settings", "latency", "samples", "output_check")


def new_report(**sections) -> dict:
    return {
        "schema": SCHEMA,
        "edgepose_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **sections,
    }


def default_path(model: str, target: str) -> Path:
    """Where a report goes when no ``--out`` is given: ``reports/<model>-<target>-<time>.json``."""
    return Path("reports") / f"{model}-{target}-{datetime.now():%Y%m%d-%H%M%S}.json"


def write_report(report: dict, path: Path) -> Path:
    return atomic.write_json(Path(path), report)


def load_report(path: Path) -> dict:
    path = Path(path)
    try:
        report = json.loads(read_text(path, DataError))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not a benchmark report (invalid JSON at line {error.lineno})") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith("edgepose.benchmark_report/"):
        raise DataError(f"{path}: not an edgepose benchmark report (no schema '{SCHEMA}')")
    if report["schema"] == PREVIOUS:
        report = _from_version_1(report)
    if report["schema"] != SCHEMA:
        raise DataError(f"{path}: report schema {report['schema']}; this edgepose reads {SCHEMA} and {PREVIOUS}")
    missing = [key for key in REQUIRED if key not in report]
    if missing:
        raise DataError(f"{path}: incomplete benchmark report, missing {', '.join(missing)}")
    return report


def unit(report: dict) -> str:
    """``us`` for a measured time, ``instructions`` for an emulated board."""
    return report["latency"]["unit"]


def _from_version_1(report: dict) -> dict:
    """A version-1 report in version 2's terms. Version 1 kept every target's latency in µs; an emulated
    board's µs were emulated time, with its instruction counts (min, p50, max, mean) beside them."""
    report = dict(report)
    latency, samples = report.pop("latency_us", None) or {}, report.pop("samples_us", None) or []
    first = report.pop("first_inference_us", None)
    per_us = (report.get("timer") or {}).get("instructions_per_us")
    if "instructions" in report and per_us:
        report.pop("instructions")
        latency = {k: round(v * per_us) for k, v in latency.items() if k not in ("runs", "throughput_ips")}
        latency = {"unit": "instructions", "runs": len(samples), **latency}
        samples = [round(v * per_us) for v in samples]
        first = round(first * per_us) if first is not None else None
    else:
        latency = {"unit": "us", **latency}
    return {**report, "schema": SCHEMA, "latency": latency, "samples": samples, "first_inference": first}


def label(report: dict) -> str:
    """A short name for tables and plots: model, kind, target, runtime and threads."""
    model, runtime = report["model"], report["runtime"]
    threads = f" x{runtime['threads']}" if runtime.get("threads") else ""
    return f"{model['name']} ({model.get('kind', '?')}) @ {report['target']['name']}, {runtime['name']}{threads}"
