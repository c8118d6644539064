"""``edgepose demo``: the whole chain on this machine alone — synthetic data, no GPU, no network.

The demo is a list of steps run in order inside one run directory; each step writes its results there
and returns a one-line summary. Steps are added here as the chain grows.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgepose.boards import BACKEND_TOOLS, find_board
from edgepose.config import Config, load_config
from edgepose.doctor import run_checks
from edgepose.runs import Run

DEMO_OVERRIDES = ("targets=[host, qemu-m7, qemu-m55]",)


@dataclass
class StepResult:
    name: str
    summary: str


@dataclass
class DemoResult:
    run: Run
    steps: list[StepResult] = field(default_factory=list)


def demo_config(config_path: Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """The demo's defaults (host and the emulated Cortex-M7 and M55), then the user's file and overrides."""
    return load_config(config_path, [*(DEMO_OVERRIDES if config_path is None else ()), *overrides])


def _environment(run: Run, config: Config) -> str:
    checks = run_checks()
    run.write_json("doctor.json", [c.as_dict() for c in checks])
    tools = [c for c in checks if c.kind == "toolchain"]
    found = [c.name for c in tools if c.status == "ok"]
    missing_required = [c.name for c in checks if c.failed]
    note = f"; required pieces missing: {', '.join(missing_required)}" if missing_required else ""
    return f"{len(checks) - len(tools)} Python checks, {len(found)}/{len(tools)} toolchains found{note}"


def _targets(run: Run, config: Config) -> str:
    rows = []
    for entry in config.targets:
        board = find_board(entry.board)
        missing = [tool for tool in BACKEND_TOOLS[board.backend] if shutil.which(tool) is None]
        rows.append({"board": board.name, "backend": board.backend, "missing_tools": missing, "ready": not missing})
    run.write_json("targets.json", rows)
    return ", ".join(r["board"] + ("" if r["ready"] else f" (needs {', '.join(r['missing_tools'])})") for r in rows)


STEPS: list[tuple[str, Callable[[Run, Config], str]]] = [
    ("environment", _environment),
    ("targets", _targets),
]


def run_demo(out: Path | None = None, config_path: Path | None = None, overrides: Sequence[str] = ()) -> DemoResult:
    config = demo_config(config_path, overrides)
    run = Run.create("demo", out=out, runs_dir=config.general.runs_dir, config=config)
    result = DemoResult(run=run)
    with run:
        for name, step in STEPS:
            result.steps.append(StepResult(name, step(run, config)))
    return result
