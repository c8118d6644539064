"""Shared by the benchmark scripts: write one dated result with the machine and the command."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from edgepose import atomic
from edgepose.machine import machine_info

RESULTS = Path(__file__).parent / "results"


def record(name: str, figures: dict) -> Path:
    today = datetime.date.today().isoformat()
    path = RESULTS / f"{today}-{name}.json"
    payload = {"benchmark": name, "date": today, "command": " ".join(sys.argv), "machine": machine_info(), **figures}
    atomic.write_json(path, payload)
    print(f"recorded {path}")
    return path
