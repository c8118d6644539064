"""``edgepose demo``: the whole chain on this machine alone — synthetic data, no GPU, no network.

The demo is a list of steps run in order inside one run directory: the environment check, the boards
whose toolchains are here, the whole pipeline (synthetic data, tiny, int8, evaluation float vs int8,
benchmarks on the host with LiteRT and ONNX Runtime and on the emulated Cortex-M7 and Cortex-M55), and
one HTML summary page whose path it prints.
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

DEMO_OVERRIDES = (
    "targets=[host, {board: host, runtime: onnxruntime}, qemu-m7, qemu-m55]",
    "training.epochs=8",
    "quantization.calibration_size=100",
    "evaluation.max_samples=200",
    "benchmark.warmup=2",
    "benchmark.runs=20",
)
SUMMARY = "summary.html"


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
    """Which demo boards have their toolchains; the others are left out with one line each."""
    rows, ready = [], []
    for entry in config.targets:
        board = find_board(entry.board)
        missing = [tool for tool in BACKEND_TOOLS[board.backend] if shutil.which(tool) is None]
        rows.append({"board": board.name, "backend": board.backend, "missing_tools": missing, "ready": not missing})
        if missing:
            print(f"demo: leaving out {board.name}: {', '.join(missing)} not installed (run `make setup` as root)")
        else:
            ready.append(entry)
    config.targets = ready
    run.write_json("targets.json", rows)
    return ", ".join(r["board"] + ("" if r["ready"] else f" (needs {', '.join(r['missing_tools'])})") for r in rows)


def _chain(run: Run, config: Config) -> str:
    from edgepose.console import chain_progress
    from edgepose.pipeline import DEFAULT_STEPS, run_pipeline

    with chain_progress(list(DEFAULT_STEPS)) as on_step:
        outcomes = run_pipeline(config, run.path / "pipeline", on_step=on_step)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        from edgepose.errors import EdgeposeError

        raise EdgeposeError(f"demo step {failed[0].name} failed: {failed[0].summary}")
    return "; ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes)


def _summary(run: Run, config: Config) -> str:
    from edgepose.summary import write_summary

    path = write_summary(run.path / "pipeline", run.path / SUMMARY)
    return str(path)


STEPS: list[tuple[str, Callable[[Run, Config], str]]] = [
    ("environment", _environment),
    ("targets", _targets),
    ("pipeline", _chain),
    ("summary", _summary),
]


def run_demo(out: Path | None = None, config_path: Path | None = None, overrides: Sequence[str] = ()) -> DemoResult:
    config = demo_config(config_path, overrides)
    run = Run.create("demo", out=out, runs_dir=config.general.runs_dir, config=config)
    result = DemoResult(run=run)
    with run:
        for name, step in STEPS:
            result.steps.append(StepResult(name, step(run, config)))
    return result
