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

SCHEMA = "edgepose.benchmark_report/1"
REQUIRED = ("schema", "model", "target", "runtime", "settings", "latency_us", "samples_us", "output_check")


def new_report(**sections) -> dict:
    return {
        "schema": SCHEMA,
        "edgepose_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **sections,
    }


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
    if report["schema"] != SCHEMA:
        raise DataError(f"{path}: report schema {report['schema']}; this edgepose reads {SCHEMA}")
    missing = [key for key in REQUIRED if key not in report]
    if missing:
        raise DataError(f"{path}: incomplete benchmark report, missing {', '.join(missing)}")
    return report


def label(report: dict) -> str:
    """A short name for tables and plots: model, kind, target, runtime and threads."""
    model, runtime = report["model"], report["runtime"]
    threads = f" x{runtime['threads']}" if runtime.get("threads") else ""
    return f"{model['name']} ({model.get('kind', '?')}) @ {report['target']['name']}, {runtime['name']}{threads}"
